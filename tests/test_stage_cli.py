"""Every `python -m stages.<name>` parses its command line before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = sorted(p.parent.name for p in (ROOT / "stages").glob("*/__main__.py"))


def stage(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """Run a stage in an empty folder: with no params.yaml there, any work it started would fail."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIPELINE_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", f"stages.{name}", *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )


def test_every_stage_folder_has_an_entry_point():
    assert {
        "collect",
        "clean",
        "dedup",
        "tokenizer",
        "pretrain",
        "tasks",
        "finetune",
        "evaluate",
        "report",
    } <= set(STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_help_prints_usage_and_the_stage_doc_and_starts_nothing(tmp_path, name):
    proc = stage(tmp_path, name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python -m stages.{name}")
    assert "params.yaml" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # no output, no cache, no metrics


@pytest.mark.parametrize("name", ["pretrain", "clean", "finetune"])
def test_an_unknown_flag_stops_before_any_work(tmp_path, name):
    proc = stage(tmp_path, name, "--max-steps", "3")
    assert proc.returncode == 2
    assert "unrecognized arguments: --max-steps" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "params.yaml" not in proc.stderr  # it stopped at the command line, before reading params


def test_report_takes_against_and_documents_it(tmp_path):
    assert "--against GIT_REV" in stage(tmp_path, "report", "--help").stdout
    proc = stage(tmp_path, "report", "--against")
    assert proc.returncode == 2 and "expected one argument" in proc.stderr


def test_finetune_needs_its_task_and_names_the_known_ones(tmp_path):
    proc = stage(tmp_path, "finetune")
    assert proc.returncode == 2
    assert "the following arguments are required: task" in proc.stderr
    assert "classify" in stage(tmp_path, "finetune", "--help").stdout


def test_a_stage_run_adds_its_wall_time_to_every_metrics_file_it_wrote(tmp_path, monkeypatch):
    from stages.common import io, stage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(io, "WRITTEN_METRICS", [])
    monkeypatch.setattr(sys, "argv", ["stages.fake"])

    def main():
        io.write_metrics(tmp_path / "metrics/a.json", {"x": 1, "note": "text"})
        io.write_metrics(tmp_path / "metrics/a.json", {"x": 2})  # rewritten: one key, once
        io.write_metrics(tmp_path / "metrics/b.json", {"y": 3})

    stage.run_stage("fake", main)
    a, b = (io.read_json(tmp_path / f"metrics/{n}.json") for n in "ab")
    assert a["x"] == 2 and b["y"] == 3
    assert 0 < a[stage.STAGE_SECONDS] == b[stage.STAGE_SECONDS] < stage.process_seconds() + 1
    assert stage.STAGE_SECONDS not in io.read_json(tmp_path / "metrics/info/a.json")

"""Helpers for the end-to-end tests that run DVC in a copy of this repository: a subprocess that
fails with DVC's own output, the stages a run executed, a commit, and the tiny copy itself
(conftest.py's `reproduced` and `repo` fixtures build on it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"collect", "clean", "dedup", "tokenizer", "pretrain", "tasks", "evaluate", "report"}
UPSTREAM = {"collect", "clean", "dedup", "tokenizer", "tasks"}  # the stages before pretrain


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` in `cwd`; a non-zero exit fails the test with the tail of its output."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PIPELINE_NO_PROGRESS": "1", **(env or {})}
    env.setdefault("DVC_SITE_CACHE_DIR", str(cwd.parent / "dvc-site-cache"))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    """The stages that a `dvc repro`/`dvc exp run` executed."""
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def commit(repo: Path, message: str) -> None:
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", message, "--allow-empty"], repo)


def repro(repo: Path, *args: str) -> set[str]:
    return ran(sh(["dvc", "repro", *args], repo))


def set_param(repo: Path, dotted: str, value) -> None:
    path = repo / "params.yaml"
    data = yaml.safe_load(path.read_text())
    *parents, leaf = dotted.split(".")
    node = data
    for p in parents:
        node = node[p]
    node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def get_param(repo: Path, dotted: str):
    node = yaml.safe_load((repo / "params.yaml").read_text())
    for p in dotted.split("."):
        node = node[p]
    return node


def copy_repository(dest: Path) -> None:
    """This repository's tracked and unignored files into `dest`, without DVC's outputs."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file() and not f.startswith(("data/", "models/", "metrics/", "reports/")):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def reproduce_tiny_copy(repo: Path) -> None:
    """Copy this repository's tracked and unignored files (no outputs) to `repo`, compose the tiny
    profile, commit, `dvc repro`, commit again and tag that state `reproduced`."""
    copy_repository(repo)
    sh([sys.executable, "-m", "stages.common.compose", "tiny"], repo)  # the README's command
    sh(["git", "init", "-q"], repo)
    sh(["git", "config", "user.name", "e2e"], repo)
    sh(["git", "config", "user.email", "e2e@example.invalid"], repo)
    commit(repo, "tiny profile")
    stages = ran(sh(["dvc", "repro"], repo))
    assert stages >= STAGES, f"dvc repro ran {sorted(stages)}"
    commit(repo, "reproduced")
    sh(["git", "tag", "reproduced"], repo)

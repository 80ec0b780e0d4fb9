"""`dvc exp` and `dvc plots` as the README documents them: grouped charts from dvc.yaml's top-level
`plots:` (train and validation loss on one chart), a queued 2 x 2 grid, and the README's
`dvc exp show` command fitting a 100-column terminal.

The quick tests read dvc.yaml and params.yaml; the slow ones run DVC in the reproduced tiny copy
(conftest.py's `repo`).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest
import yaml
from pipeline_fixtures import commit, set_param, sh

ROOT = Path(__file__).resolve().parents[1]
CURVES = "metrics/curves/{run}/plots/metrics"
WIDTH = 100


def top_plots(root: Path = ROOT) -> dict[str, dict]:
    """dvc.yaml's top-level plots by title."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    return {name: body for entry in spec["plots"] for name, body in entry.items()}


def readme_command(prefix: str) -> list[str]:
    """The README's one command line that starts with `prefix`, split as a shell would."""
    lines = [
        ln.strip() for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip().startswith(prefix)
    ]
    assert len(lines) == 1, f"README.md: expected one line starting {prefix!r}, found {lines}"
    return shlex.split(lines[0].split(" #")[0])


def loss_files(chart: dict) -> set[str]:
    return {f for f, field in chart["y"].items() if field == "loss"}


def test_each_training_run_has_one_chart_with_train_and_valid_loss():
    charts = top_plots()
    tasks = yaml.safe_load((ROOT / "params.yaml").read_text())["finetune"]["tasks"]
    want = {"pretrain loss": ("pretrain", "val")} | {
        f"finetune {t} loss": (f"finetune/{t}", "valid") for t in tasks
    }
    for title, (run, valid) in want.items():
        assert title in charts, f"dvc.yaml plots: no chart {title!r}; add one for every finetune.tasks entry"
        base = CURVES.format(run=run)
        assert loss_files(charts[title]) == {f"{base}/train/loss.tsv", f"{base}/{valid}/loss.tsv"}, title
        assert charts[title]["x"] == "step"


def test_stages_declare_curves_as_outs_and_leave_charts_to_the_top_level():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    tasks = yaml.safe_load((ROOT / "params.yaml").read_text())["finetune"]["tasks"]
    # A stage's own plots would add one chart per file beside the grouped ones.
    assert [name for name, s in stages.items() if "plots" in s.get("do", s)] == []
    declared = [
        next(iter(o)) if isinstance(o, dict) else o for s in stages.values() for o in s.get("do", s)["outs"]
    ]
    outs = {o.replace("${item}", t) for o in declared for t in tasks}
    charts = top_plots()
    charted = {f for chart in charts.values() for f in chart["y"]}
    # A charted file inside a declared out is restored by DVC and committed with each experiment.
    undeclared = {f for f in charted if not any(f.startswith(o + "/") for o in outs)}
    assert charted and undeclared == set(), undeclared
    assert len(charts) < len(charted)  # grouped: fewer charts than curve files


@pytest.mark.slow
def test_plots_show_overlays_train_and_valid_loss_on_one_chart(repo):
    data = json.loads(sh(["dvc", "plots", "show", "--json"], repo).stdout)["data"]
    assert set(data) == set(top_plots(repo)), sorted(data)
    values = data["pretrain loss"][0]["content"]["data"]["values"]
    series = {v["filename"] for v in values}
    assert series == {"train/loss.tsv", "val/loss.tsv"}, series
    for name in series:
        steps = [int(v["step"]) for v in values if v["filename"] == name]
        assert len(steps) > 1 and steps == sorted(steps), name
    task_values = data["finetune classify loss"][0]["content"]["data"]["values"]
    assert {v["filename"] for v in task_values} == {"train/loss.tsv", "valid/loss.tsv"}


def wait_for_queue(repo: Path, timeout_s: float) -> str:
    """`dvc queue status` once nothing is queued or running; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = sh(["dvc", "queue", "status"], repo).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        assert time.monotonic() < deadline, f"queue still busy after {timeout_s:.0f} s:\n{status}"
        time.sleep(5)


@pytest.mark.slow
def test_a_queued_grid_gives_four_experiments_and_a_show_that_fits_100_columns(repo):
    grid = readme_command("dvc exp run --queue")
    assert grid.count("-S") == 2 and all("," in grid[i + 1] for i, a in enumerate(grid) if a == "-S")
    # Four short trainings: 10 steps, committed as the baseline so that they are no column of the
    # table, and target pretrain, so only it runs (upstream is cached).
    set_param(repo, "pretrain.train.max_steps", 10)
    commit(repo, "shorter pretraining")
    sh([*grid, "pretrain"], repo)
    try:
        sh(["dvc", "queue", "start", "-j", "2"], repo)
        status = wait_for_queue(repo, timeout_s=900)
    finally:
        sh(["dvc", "queue", "stop"], repo)
    assert status.count("Success") == 4, status

    shown = json.loads(sh(["dvc", "exp", "show", "--json"], repo).stdout)
    exps = [e["revs"][0]["data"] for rev in shown for e in (rev.get("experiments") or [])]
    assert len(exps) == 4, json.dumps(shown)[:2000]
    cells = {
        (d["params"]["params.yaml"]["data"]["pretrain"]["model"]["n_layers"],
         d["params"]["params.yaml"]["data"]["pretrain"]["train"]["lr"])
        for d in exps
    }  # fmt: skip
    assert len(cells) == 4, cells
    losses = {d["metrics"]["metrics/pretrain.json"]["data"]["val_loss"] for d in exps}
    assert len(losses) == 4, losses

    show = readme_command("dvc exp show --only-changed")
    # As written, and with the columns a whole-pipeline grid also changes (this one runs pretrain only).
    for cmd in (show, [*show, "--keep", r"ner\.gold\.f1$"]):
        out = sh(cmd, repo, env={"COLUMNS": str(WIDTH)}).stdout
        lines = out.splitlines()
        assert len(lines) >= 4 + 2, out
        assert max(map(len, lines)) <= WIDTH, f"{max(map(len, lines))} columns:\n{out}"
        header = next(ln for ln in lines if "Experiment" in ln).split()
        assert {"pretrain.model.n_layers", "pretrain.train.lr", "val_ppl"} <= set(header), header

    # The charts compare experiments: one series per experiment and loss file.
    names = [e["name"] for rev in shown for e in (rev.get("experiments") or [])][:2]
    diff = json.loads(sh(["dvc", "plots", "diff", *names, "--json"], repo).stdout)["data"]
    values = diff["pretrain loss"][0]["content"]["data"]["values"]
    assert {(v["rev"], v["filename"]) for v in values} == {
        (n, f) for n in names for f in ("train/loss.tsv", "val/loss.tsv")
    }

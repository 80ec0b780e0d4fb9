"""`python -m stages.pretrain` as real processes: a SIGKILL mid-run and a resume; DDP and FSDP on gloo.

Each test builds a small project (the tiny profile's params.yaml, the token files of
conftest.py's `data`) in a temporary folder and runs the stage there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pretrain_fixtures import curve, project

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CKPT_FILES = {"model.safetensors", "optimizer.pt", "state.json"}


def stage(cwd: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PIPELINE_NO_PROGRESS": "1",
        "OMP_NUM_THREADS": "1",  # the same thread count in every run, so the same float sums
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stages.pretrain"], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-4000:]


def test_sigkill_then_rerun_resumes_the_same_curve(data, tmp_path):
    steps = dict(max_steps=150, checkpoint_every=10, batch_size=4)
    straight = project(tmp_path / "straight", data, **steps)
    finish(stage(straight))

    killed = project(tmp_path / "killed", data, **steps)
    ckpt = killed / "models/pretrain_ckpt"
    proc = stage(killed)
    seen_steps = set()
    while proc.poll() is None:
        if ckpt.exists():
            # Whenever the folder is there it is whole: atomic_dir swaps it into place complete.
            # A listing is not instantaneous, so judge only one the folder was not swapped under.
            before = ckpt.stat().st_ino
            names = {p.name for p in ckpt.iterdir()}
            if ckpt.stat().st_ino == before:
                assert names == CKPT_FILES, f"half-written checkpoint: {names}"
            seen_steps.add(json.loads((ckpt / "state.json").read_text())["step"])
            if max(seen_steps) >= 20:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.005)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "models/pretrain").exists()
    state = json.loads((ckpt / "state.json").read_text())
    assert 20 <= state["step"] < 150 and not state["finished"]
    logged = [s for s, _ in curve(killed)]
    assert logged[-1] >= state["step"]  # the killed run logged steps past its checkpoint

    finish(stage(killed))
    assert not list(ckpt.parent.glob(".pretrain_ckpt.tmp-*"))
    resumed, whole = curve(killed), curve(straight)
    assert [s for s, _ in resumed] == list(range(1, 151))  # the steps after the checkpoint once, not twice
    assert [v for _, v in resumed] == pytest.approx([v for _, v in whole], abs=1e-6)
    metrics = json.loads((killed / "metrics/pretrain.json").read_text())
    assert metrics["steps"] == 150 - state["step"]  # it resumed; it did not start over
    assert (
        metrics["tokens_seen"] == json.loads((straight / "metrics/pretrain.json").read_text())["tokens_seen"]
    )


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one_with_the_same_global_batch(data, tmp_path, mode):
    from transformers import AutoModelForCausalLM

    one = project(tmp_path / "one", data, max_steps=8, batch_size=8, checkpoint_every=4)
    two = project(
        tmp_path / "two", data, max_steps=8, batch_size=4, checkpoint_every=4, gpus=2, parallel=mode
    )
    finish(stage(one))
    finish(stage(two))
    a, b = curve(one), curve(two)
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 9))
    assert [v for _, v in b] == pytest.approx([v for _, v in a], abs=2e-4)
    ma = json.loads((one / "metrics/pretrain.json").read_text())
    mb = json.loads((two / "metrics/pretrain.json").read_text())
    assert mb["processes"] == 2 and mb["tokens_seen"] == ma["tokens_seen"]
    assert mb["val_loss"] == pytest.approx(ma["val_loss"], abs=2e-4)
    wa = AutoModelForCausalLM.from_pretrained(one / "models/pretrain").state_dict()
    wb = AutoModelForCausalLM.from_pretrained(two / "models/pretrain").state_dict()
    assert all((wa[k] - wb[k]).abs().max() < 1e-3 for k in wa)
    state = json.loads((two / "models/pretrain_ckpt/state.json").read_text())
    assert state["finished"] and state["step"] == 8

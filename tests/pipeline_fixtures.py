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

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"collect", "clean", "dedup", "tokenizer", "pretrain", "tasks", "evaluate", "report"}


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


def reproduce_tiny_copy(repo: Path) -> None:
    """Copy this repository's tracked and unignored files (no outputs) to `repo`, compose the tiny
    profile, commit, `dvc repro`, commit again and tag that state `reproduced`."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if not src.is_file() or f.startswith(("data/", "models/", "metrics/", "reports/")):
            continue
        dest = repo / f
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    sh([sys.executable, "-m", "stages.common.compose", "tiny"], repo)  # the README's command
    sh(["git", "init", "-q"], repo)
    sh(["git", "config", "user.name", "e2e"], repo)
    sh(["git", "config", "user.email", "e2e@example.invalid"], repo)
    commit(repo, "tiny profile")
    stages = ran(sh(["dvc", "repro"], repo))
    assert stages >= STAGES, f"dvc repro ran {sorted(stages)}"
    commit(repo, "reproduced")
    sh(["git", "tag", "reproduced"], repo)

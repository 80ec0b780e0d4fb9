"""Helpers of the end-to-end tests: a copy of the repository, shell commands, and what DVC ran."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = {"collect", "clean", "dedup", "tokenizer", "tasks"}


def sh(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PIPELINE_NO_PROGRESS": "1"}
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


def commit(repo: Path, message: str) -> None:
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", message, "--allow-empty"], repo)


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

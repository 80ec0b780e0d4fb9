"""dvclive loggers for training curves, one folder per stage under metrics/curves/."""

from __future__ import annotations

from pathlib import Path


def curves_dir(name: str) -> Path:
    return Path("metrics") / "curves" / name


def open_live(name: str):
    """A dvclive `Live` that writes plots for dvc.yaml to declare, and no experiments."""
    from dvclive import Live

    return Live(dir=str(curves_dir(name)), dvcyaml=None, save_dvc_exp=False, report=None, resume=False)

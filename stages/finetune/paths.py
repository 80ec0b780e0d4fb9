"""Where finetune reads its inputs and writes its outputs (the one place paths are named)."""

from __future__ import annotations

from pathlib import Path

PRETRAIN_DIR = Path("models/pretrain")
TASKS_DIR = Path("data/tasks")
MODELS_DIR = Path("models/finetune")  # one folder per task
METRICS_DIR = Path("metrics/finetune")  # <task>.json


def curves_name(task: str) -> str:
    """The dvclive folder under metrics/curves/ (see stages.common.live)."""
    return f"finetune/{task}"

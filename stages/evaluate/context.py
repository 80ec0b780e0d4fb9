"""What every metric family receives and returns.

A family is a function `(Context) -> Result`: flat `metrics.json` keys, the detail that goes
to metrics/evaluate/<family>.json, and DVC plot rows (empty when it has none). A family whose
inputs are absent reports its keys as "n/a", never 0, and says why in its detail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stages.evaluate import paths
from stages.evaluate.config import EvaluateParams

NA = "n/a"

Result = tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]


@dataclass(frozen=True)
class Context:
    cfg: EvaluateParams
    seed: int
    device: str
    tasks: tuple[str, ...]  # finetune.tasks: the tasks that have a fine-tuned model


Family = Callable[[Context], Result]


def na_result(keys: Iterable[str], reason: str, **detail: Any) -> Result:
    """Every key n/a for one reason (kept in the detail under "na")."""
    keys = list(keys)
    return {k: NA for k in keys}, {**detail, "na": {k: reason for k in keys}}, []


def not_finetuned(task: str) -> str:
    """The n/a reason for a model that finetune was not asked to train."""
    return f"{paths.FINETUNE_DIR / task} not found: finetune.tasks in params.yaml does not list {task}"


def task_not_built(task: str) -> str:
    """The n/a reason for a task data folder the tasks stage did not write."""
    return (
        f"{paths.TASKS_DIR / task} not found: the tasks stage does not build {task}; "
        "add it to tasks in params.yaml and run `dvc repro tasks`"
    )

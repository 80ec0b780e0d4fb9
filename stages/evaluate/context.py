"""What every metric family receives, declares and returns.

A family runs as a function `(Context) -> Result`: flat `metrics.json` keys, the detail that
goes to metrics/evaluate/<family>.json, and DVC plot rows (empty when it has none). It
declares its keys, with what each one means, in a function `(Context) -> list[Metric]`
(stages/common/manifest.py); evaluate checks that it writes exactly those. A family whose
inputs are absent reports its keys as n/a, never 0, with the reason under the same key in
its detail's "na".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stages.common.manifest import Metric, System
from stages.common.na import na_with_reason
from stages.evaluate import paths
from stages.evaluate.config import EvaluateParams

Result = tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]


@dataclass(frozen=True)
class Context:
    cfg: EvaluateParams
    seed: int
    device: str
    tasks: tuple[str, ...]  # the tasks with a fine-tuned model: the folders under models/finetune


@dataclass(frozen=True)
class Family:
    """One entry of evaluate's registry: what it is called, how report shows it, the data it
    is scored on, how it runs, the keys it writes and the systems they belong to."""

    name: str  # also its detail file, metrics/evaluate/<name>.json
    kind: str  # the report section it gets: lm, classification, domain, fewshot, robust, ner, privacy
    data: str
    run: Callable[[Context], Result]
    metrics: Callable[[Context], list[Metric]]
    systems: tuple[System, ...]


def na_result(keys: Iterable[str], reason: str, **detail: Any) -> Result:
    """Every key n/a for one reason (kept in the detail under "na")."""
    flat, reasons = na_with_reason(keys, reason)
    return flat, {**detail, "na": reasons}, []


def not_finetuned(task: str) -> str:
    """The n/a reason for a model that finetune was not asked to train."""
    return f"{paths.FINETUNE_DIR / task} not found: finetune.tasks in params.yaml does not list {task}"


def task_not_built(task: str) -> str:
    """The n/a reason for a task data folder the tasks stage did not write."""
    return (
        f"{paths.TASKS_DIR / task} not found: the tasks stage does not build {task}; "
        "add it to tasks in params.yaml and run `dvc repro tasks`"
    )

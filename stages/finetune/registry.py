"""Task kinds that finetune knows: task name -> the module that fine-tunes it.

A module exposes `run(task: str, cfg: FinetuneParams, seed: int) -> dict` (the metrics it
wrote). To add a kind (ner, domain, adversarial, few-shot), write stages/finetune/<kind>.py
and add one line here; `finetune.tasks` and the CLI accept it from then on.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from stages.common.errors import PipelineError

KINDS: dict[str, str] = {"classify": "stages.finetune.classify"}


def task_module(task: str) -> ModuleType:
    """The module for `task`, or an error that lists the known tasks."""
    if task not in KINDS:
        raise PipelineError(f"unknown task {task!r}; known tasks are {sorted(KINDS)}")
    return importlib.import_module(KINDS[task])

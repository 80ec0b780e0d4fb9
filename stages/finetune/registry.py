"""Task kinds that finetune knows: task name -> the module that fine-tunes it.

A module exposes `run(task: str, cfg: FinetuneParams, seed: int) -> dict` (the metrics it
wrote, with at least "best_valid" and "valid_metric"). To add a kind, write
stages/finetune/<kind>.py, add one line here and a section to FinetuneParams;
`finetune.tasks` and the CLI accept it from then on.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from stages.common.errors import PipelineError

KINDS: dict[str, str] = {
    "classify": "stages.finetune.classify",
    "ner": "stages.finetune.ner",
    "domain": "stages.finetune.domain",
    "adversarial": "stages.finetune.adversarial",
}

# Names people may expect here that belong to another stage: name -> what to do instead.
NOT_FINETUNE_TASKS: dict[str, str] = {
    "fewshot": "few-shot is not a finetune task: the evaluate stage prompts models/pretrain "
    "with k demonstrations (evaluate.fewshot.ks); drop it from finetune.tasks",
}


def task_module(task: str) -> ModuleType:
    """The module for `task`, or an error that lists the known tasks."""
    if task in NOT_FINETUNE_TASKS:
        raise PipelineError(f"task {task!r}: {NOT_FINETUNE_TASKS[task]}")
    if task not in KINDS:
        raise PipelineError(f"unknown task {task!r}; known tasks are {sorted(KINDS)}")
    return importlib.import_module(KINDS[task])

"""Task kinds this stage can build: the params field name -> the module that builds it.

A module exposes `build(cfg, seed, out_dir) -> metrics dict`. To add a task kind, add its
params dataclass to config.TasksParams and one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

BUILDERS: dict[str, str] = {
    "classify": "stages.tasks.classify",
    "ner": "stages.tasks.ner",
    "domain": "stages.tasks.domain",
    "adversarial": "stages.tasks.adversarial",
}


def builder(task: str) -> ModuleType:
    return importlib.import_module(BUILDERS[task])

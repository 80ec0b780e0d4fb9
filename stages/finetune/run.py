"""Fine-tune the pretrained model on one task.

    python -m stages.finetune classify      # or ner, domain, adversarial

dvc.yaml runs one stage per entry of `finetune.tasks`. The task name picks its module
from stages/finetune/registry.py.
"""

from __future__ import annotations

import logging
import sys

from stages.common.errors import ParamsError, PipelineError
from stages.common.params import load_section, load_seed
from stages.common.runtime import keep_freed_memory
from stages.finetune import card
from stages.finetune.registry import KINDS, task_module

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise PipelineError(f"usage: python -m stages.finetune <task>; known tasks are {sorted(KINDS)}")
    module = task_module(args[0])
    cfg = load_section("finetune")
    try:
        cfg.check_needs(args[0])
    except ParamsError as e:
        raise ParamsError(f"params.yaml: finetune.{e}") from None
    seed = load_seed()
    keep_freed_memory()
    metrics = module.run(args[0], cfg, seed)
    card.write(args[0], cfg, seed, metrics)
    log.info(
        "%s: best valid %s %.4f after %d epoch(s), %d steps, %.0f s",
        args[0],
        metrics["valid_metric"],
        metrics["best_valid"],
        metrics["epochs_run"],
        metrics["steps"],
        metrics["train_time_s"],
    )

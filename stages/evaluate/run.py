"""Evaluate the pretrained and fine-tuned models; write metrics/metrics.json and the details.

    python -m stages.evaluate

metrics/metrics.json is flat with stable keys (`pretrain.val_loss`, `classify.test.acc`,
`classify.tfidf.test.acc`, ...): every figure sits beside its baseline, and a figure whose
inputs are absent is the string "n/a", never 0, with its reason in metrics/evaluate/<family>.json.
Each metric family is one function `(Context) -> (flat, detail, plot rows)` listed in FAMILIES.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

from stages.common.errors import DataError
from stages.common.io import atomic_dir, write_json
from stages.common.params import load_section, load_seed
from stages.common.runtime import pick_device, seed_everything
from stages.evaluate import classify, domain, fewshot, lm, ner, paths, privacy, robust
from stages.evaluate.context import Context, Family

log = logging.getLogger(__name__)


def finetune_tasks(models_dir: Path = paths.FINETUNE_DIR) -> tuple[str, ...]:
    """The tasks with a fine-tuned model: the folders finetune@<task> wrote under models/finetune."""
    if not models_dir.is_dir():
        return ()
    tasks = tuple(sorted(d.name for d in models_dir.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if "pretrain" in tasks:
        raise DataError(f"{models_dir / 'pretrain'}: 'pretrain' is reserved for the language-model metrics")
    return tasks


# The metric families, run in this order; each writes metrics/evaluate/<name>.json.
FAMILIES: tuple[tuple[str, Family], ...] = (
    ("pretrain", lm.family),
    ("domain", domain.family),
    *((task, partial(classify.family, task=task)) for task in classify.CLASSIFICATION_TASKS),
    ("ner", ner.family),
    ("fewshot", fewshot.family),
    ("robust", robust.family),
    ("privacy", privacy.family),
)
# finetune tasks that some family above evaluates
EVALUATED_TASKS = {*classify.CLASSIFICATION_TASKS, domain.TASK, ner.TASK}


def main() -> None:
    cfg = load_section("evaluate")
    seed = load_seed()
    tasks = finetune_tasks()
    for task in sorted(set(tasks) - EVALUATED_TASKS):
        log.warning("finetune task %r has no evaluate family; its model is not scored", task)
    seed_everything(seed)
    import torch

    torch.manual_seed(seed)
    ctx = Context(cfg, seed, pick_device(cfg.device), tasks)

    flat: dict[str, Any] = {}
    details: dict[str, Any] = {}
    plots: dict[str, list] = {}
    for name, family in FAMILIES:
        start = time.perf_counter()
        f_flat, details[name], rows = family(ctx)
        flat.update(f_flat)
        if rows:
            plots[name] = rows
        log.info("family %s: %d keys in %.1f s", name, len(f_flat), time.perf_counter() - start)
    for key, value in sorted(flat.items()):
        log.info("%-40s %s", key, f"{value:.4f}" if isinstance(value, float) else value)

    # Everything is computed before anything is written, so a failure leaves the old outputs whole.
    with atomic_dir(paths.DETAIL_DIR) as d:
        for name, obj in details.items():
            write_json(d / f"{name}.json", obj)
    with atomic_dir(paths.CONFUSION_DIR) as d:
        for task, rows in plots.items():
            write_json(d / f"{task}.json", rows)
    write_json(paths.METRICS_FILE, flat)

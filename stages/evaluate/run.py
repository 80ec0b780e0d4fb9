"""Evaluate the pretrained and fine-tuned models; write metrics/metrics.json and the details.

    python -m stages.evaluate

metrics/metrics.json is flat with stable keys (`pretrain.val_loss`, `classify.test.acc`,
`classify.tfidf.test.acc`, ...): every figure sits beside its baseline, and a figure whose
inputs are absent is the string "n/a", never 0, with its reason in metrics/evaluate/<family>.json.
"""

from __future__ import annotations

import logging
from typing import Any

from stages.common.errors import ParamsError
from stages.common.io import atomic_dir, write_json
from stages.common.params import PARAMS_FILE, load_section, load_seed, read_yaml
from stages.common.runtime import pick_device, seed_everything
from stages.evaluate import paths
from stages.evaluate.classify import evaluate_classify
from stages.evaluate.lm import evaluate_lm

log = logging.getLogger(__name__)


def finetune_tasks(path=PARAMS_FILE) -> tuple[str, ...]:
    """`finetune.tasks` from params.yaml: the tasks that have a fine-tuned model to evaluate."""
    tasks = (read_yaml(path).get("finetune") or {}).get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, str) and t for t in tasks):
        raise ParamsError(f"{path}: finetune.tasks: expected a list of task names, got {tasks!r}")
    if "pretrain" in tasks:
        raise ParamsError(f"{path}: finetune.tasks: 'pretrain' is reserved for the language-model metrics")
    return tuple(tasks)


def main() -> None:
    cfg = load_section("evaluate")
    seed = load_seed()
    tasks = finetune_tasks()
    seed_everything(seed)
    import torch

    torch.manual_seed(seed)
    device = pick_device(cfg.device)

    flat, detail = evaluate_lm(cfg, seed, device, paths.TOKENS_DIR, paths.PRETRAIN_DIR)
    details: dict[str, Any] = {"pretrain": detail}
    plots: dict[str, list] = {}
    for task in tasks:
        t_flat, t_detail, rows = evaluate_classify(
            task,
            cfg.classify,
            cfg.batch_size,
            seed,
            device,
            paths.TASKS_DIR / task,
            paths.FINETUNE_DIR / task,
        )
        flat.update(t_flat)
        details[task] = t_detail
        plots[task] = rows
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

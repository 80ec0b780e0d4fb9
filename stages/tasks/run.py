"""Build every configured task into data/tasks/<task>/ and write metrics/tasks.json.

    python -m stages.tasks

Each task gets `{train,valid,test}.parquet` with at least `id` and `text` columns; dedup
relies on that to decontaminate the pretraining corpus against valid and test texts.
Tasks are built in the order of `TasksParams`' fields (classify, ner, domain, adversarial)
into one temporary folder, so adversarial can read the classify splits just written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields
from pathlib import Path

from stages.common.io import atomic_dir, write_metrics
from stages.common.params import load_section, load_seed
from stages.common.runtime import seed_everything
from stages.tasks.registry import builder

log = logging.getLogger(__name__)

TASKS_DIR = Path("data/tasks")
METRICS_FILE = Path("metrics/tasks.json")


def main() -> None:
    cfg = load_section("tasks")
    seed = load_seed()
    seed_everything(seed)
    metrics: dict[str, dict] = {}
    with atomic_dir(TASKS_DIR) as tmp:
        for f in fields(cfg):
            task_cfg = getattr(cfg, f.name)
            if task_cfg is None:
                log.info("%s: not configured, skipped", f.name)
                continue
            start = time.perf_counter()
            metrics[f.name] = builder(f.name).build(task_cfg, seed, tmp / f.name)
            metrics[f.name]["build_time_s"] = round(time.perf_counter() - start, 2)
            sizes = {k: v["rows"] for k, v in metrics[f.name]["splits"].items()}
            log.info("%s: %s", f.name, sizes)
    write_metrics(METRICS_FILE, metrics)

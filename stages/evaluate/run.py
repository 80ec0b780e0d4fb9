"""Evaluate the pretrained and fine-tuned models; write metrics/metrics.json, its manifest and the details.

    python -m stages.evaluate

metrics/metrics.json is flat with stable keys (`pretrain.val_loss`, `classify.test.acc`,
`classify.tfidf.test.acc`, ...) and holds numbers only: every figure sits beside its baseline,
and a figure whose inputs are absent is n/a, never 0: left out of metrics.json, with its reason
under the same key in metrics/evaluate/<family>.json ("na"), where report finds it.
metrics/manifest.json says what each key is (family, label, unit, direction, baselines, and
its place in a table: system, measure, axis point), as
the families in FAMILIES declare it; report reads keys through it alone.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

from stages.common import manifest
from stages.common.errors import DataError
from stages.common.io import atomic_dir, is_number, write_json, write_metrics
from stages.common.na import is_na
from stages.common.params import load_section, load_seed
from stages.common.runtime import keep_freed_memory, pick_device, seed_everything
from stages.evaluate import classify, domain, fewshot, lm, ner, paths, privacy, robust, samples
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
FAMILIES: tuple[Family, ...] = (
    Family("pretrain", "lm", str(paths.TOKENS_DIR / "valid.bin"), lm.family, lm.metrics, lm.SYSTEM_LABELS),
    Family(
        "domain",
        "domain",
        str(paths.TASKS_DIR / domain.TASK / "test.parquet"),
        domain.family,
        domain.metrics,
        domain.SYSTEM_LABELS,
    ),
    *(
        Family(
            task,
            "classification",
            str(paths.TASKS_DIR / data / "test.parquet"),
            partial(classify.family, task=task),
            partial(classify.metrics, task=task),
            classify.SYSTEM_LABELS,
        )
        for task, data in classify.CLASSIFICATION_TASKS.items()
    ),
    Family(
        "ner",
        "ner",
        str(paths.TASKS_DIR / ner.TASK / "test.parquet"),
        ner.family,
        ner.metrics,
        ner.SYSTEM_LABELS,
    ),
    Family(
        "fewshot",
        "fewshot",
        str(paths.TASKS_DIR / fewshot.TASK / "test.parquet"),
        fewshot.family,
        fewshot.metrics,
        fewshot.SYSTEM_LABELS,
    ),
    Family(
        "robust",
        "robust",
        str(paths.TASKS_DIR / robust.PERTURBED / "test.parquet"),
        robust.family,
        robust.metrics,
        robust.SYSTEM_LABELS,
    ),
    Family(
        "privacy", "privacy", str(paths.PRETRAIN_DIR), privacy.family, privacy.metrics, privacy.SYSTEM_LABELS
    ),
)
# finetune tasks that some family above evaluates
EVALUATED_TASKS = {*classify.CLASSIFICATION_TASKS, domain.TASK, ner.TASK}


def main() -> None:
    cfg = load_section("evaluate")
    seed = load_seed()
    tasks = finetune_tasks()
    for task in sorted(set(tasks) - EVALUATED_TASKS):
        log.warning("finetune task %r has no evaluate family; its model is not scored", task)
    import torch  # noqa: F401  (imported first, so that seed_everything seeds it too)

    seed_everything(seed)
    keep_freed_memory()
    ctx = Context(cfg, seed, pick_device(cfg.device), tasks)

    declared = build_manifest(ctx)  # before any work: a family declaring a key twice fails here
    flat: dict[str, Any] = {}
    details: dict[str, Any] = {}
    plots: dict[str, list] = {}
    for family in FAMILIES:
        start = time.perf_counter()
        f_flat, details[family.name], rows = family.run(ctx)
        check_family(family.name, f_flat, details[family.name], declared.of_family(family.name))
        flat.update(f_flat)
        if rows:
            plots[family.name] = rows
        log.info("family %s: %d keys in %.1f s", family.name, len(f_flat), time.perf_counter() - start)
    details[samples.NAME] = samples.detail(ctx)  # text for the report, not a metric
    for key, value in sorted(flat.items()):
        log.info("%-40s %s", key, f"{value:.4f}" if isinstance(value, float) else value)

    # Everything is computed before anything is written, so a failure leaves the old outputs whole.
    with atomic_dir(paths.DETAIL_DIR) as d:
        for name, obj in details.items():
            write_json(d / f"{name}.json", obj)
    with atomic_dir(paths.CONFUSION_DIR) as d:
        for task, rows in plots.items():
            write_json(d / f"{task}.json", rows)
    write_json(paths.MANIFEST_FILE, declared.to_json())
    # An n/a figure is not a number: its key is left out, its reason is in the family's "na".
    write_metrics(paths.METRICS_FILE, {k: v for k, v in flat.items() if not is_na(v)}, detail=False)


def build_manifest(ctx: Context) -> manifest.Manifest:
    """What every key evaluate writes is, as the families declare it."""
    infos = [manifest.FamilyInfo(f.name, f.kind, f.data, f.systems) for f in FAMILIES]
    return manifest.build(infos, [m for f in FAMILIES for m in f.metrics(ctx)])


def check_family(
    name: str, flat: dict[str, Any], detail: dict[str, Any], declared: list[manifest.Metric]
) -> None:
    """The contract report relies on: a family writes exactly the keys it declares, each a number
    or n/a, and every n/a figure has its reason under the same key in the detail's "na"."""
    keys = {m.key for m in declared}
    extra, missing = sorted(set(flat) - keys), sorted(keys - set(flat))
    reasons = detail.get("na") or {}
    unexplained = sorted(k for k, v in flat.items() if is_na(v) and not reasons.get(k))
    not_numbers = sorted(k for k, v in flat.items() if not (is_na(v) or is_number(v)))
    problems = [
        f"writes undeclared key(s) {extra}: declare them in its metrics()" if extra else "",
        f"does not write declared key(s) {missing}" if missing else "",
        f"has n/a key(s) {unexplained} with no reason in detail['na']" if unexplained else "",
        f"has key(s) {not_numbers} that are neither a number nor n/a: put text in the detail"
        if not_numbers
        else "",
    ]
    if any(problems):
        raise RuntimeError(f"evaluate family {name}: " + "; ".join(p for p in problems if p))

"""Robustness of the classifiers to label-preserving perturbations of their input.

Two measures per system (the plain fine-tuned classifier, the adversarially trained one and
the TF-IDF baseline):
- accuracy on data/tasks/adversarial/test.parquet, the perturbed copies of the clean test;
- a black-box attack: for each example of a seeded subset of the clean test that the system
  gets right, up to `attack_budget` candidates from stages.common.perturb.attack_variants
  (seeded per example); the attack succeeds when any candidate changes the prediction.
  success rate = flipped / correctly classified, both counted.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError, ParamsError
from stages.common.io import read_json
from stages.common.manifest import COUNT, FRACTION, Metric, System
from stages.common.na import NA
from stages.common.perturb import DISTRACTORS_FILE, KINDS, attack_variants
from stages.common.runtime import progress
from stages.evaluate import paths
from stages.evaluate.classify import fit_tfidf, load_classifier, read_split
from stages.evaluate.context import Context, Result, not_finetuned, task_not_built

log = logging.getLogger(__name__)

CLEAN, PERTURBED = "classify", "adversarial"  # task folders of the clean and the perturbed test
# system -> key prefix; the two models are named after the task that trains them.
SYSTEMS = {"classify": "classify", "adversarial": "adversarial", "tfidf": "classify.tfidf"}
SYSTEM_LABELS = (
    System("classify", f"plain fine-tuned (models/finetune/{CLEAN})", "plain"),
    System("adversarial", f"adversarially trained (models/finetune/{PERTURBED})", "adversarially trained"),
    System("tfidf", "TF-IDF + logistic regression (baseline)", "TF-IDF baseline"),
)
# key part -> (measure, label, unit, direction)
MEASURES = {
    "perturbed.acc": ("perturbed_acc", "accuracy on the perturbed test", FRACTION, "higher"),
    "attack.success_rate": ("success_rate", "attack success rate", FRACTION, "lower"),
    "attack.n_correct": ("n_correct", "attacked (correct on clean)", COUNT, None),
    "attack.n_flipped": ("n_flipped", "flipped by the attack", COUNT, None),
}
KEYS = tuple(MEASURES)
# key part -> the key part, under the same system, of the clean-test figure it is read against
REFERENCES = {"perturbed.acc": "test.acc"}
# Each model's figure sits beside those of the systems it is compared with.
COMPARED_WITH = {"classify": ("tfidf",), "adversarial": ("classify", "tfidf"), "tfidf": ()}


def metrics(ctx: Context | None = None) -> list[Metric]:
    """The `<system>.perturbed.*` and `<system>.attack.*` keys of each classifier and the TF-IDF baseline."""
    out = []
    for system, prefix in SYSTEMS.items():
        for part, (measure, label, unit, direction) in MEASURES.items():
            baselines = tuple(f"{SYSTEMS[b]}.{part}" for b in COMPARED_WITH[system]) if direction else ()
            reference = f"{prefix}.{REFERENCES[part]}" if part in REFERENCES else None
            out.append(Metric(f"{prefix}.{part}", "robust", label, unit, direction, baselines,
                              system=system, measure=measure, reference=reference))  # fmt: skip
    return out


Predictor = Callable[[list[str]], np.ndarray]


def attack(
    predict: Predictor,
    texts: Sequence[str],
    labels: np.ndarray,
    seeds: Sequence[str],
    budget: int,
    kinds: Sequence[str],
    distractors: Sequence[str] = (),
    chunk: int = 32,
    per_round: int = 5,
) -> dict[str, Any]:
    """Attack every correctly classified text with up to `budget` candidates, predicted in batches.

    `seeds[i]` seeds the candidates of text i, so the candidates do not depend on which
    other texts are attacked. Candidates are scored `per_round` at a time, in their order, and a
    text's later candidates are skipped once one flips it: the first flip, and so every count,
    is the one scoring all of them would find, for fewer forward passes
    (`candidates_scored` says how many). Returns counts, the success rate and the kinds that
    flipped.
    """
    correct = np.flatnonzero(predict(list(texts)) == labels)
    flipped, scored, by_kind = 0, 0, Counter()
    for start in progress(range(0, len(correct), chunk), "attack", "chunk", total=-(-len(correct) // chunk)):
        batch = correct[start : start + chunk]
        cands = [
            attack_variants(texts[i], random.Random(seeds[i]), budget, kinds, distractors) for i in batch
        ]
        pending = [j for j, c in enumerate(cands) if c]
        for lo in range(0, budget, per_round):
            if not pending:
                break
            parts = [cands[j][lo : lo + per_round] for j in pending]
            preds = predict([t for part in parts for _, t in part])
            scored += len(preds)
            pos, still = 0, []
            for j, part in zip(pending, parts):
                hits = np.flatnonzero(preds[pos : pos + len(part)] != labels[batch[j]])
                pos += len(part)
                if len(hits):
                    flipped += 1
                    by_kind[part[hits[0]][0]] += 1
                elif lo + per_round < len(cands[j]):
                    still.append(j)
            pending = still
    n = len(correct)
    return {
        "n_correct": n,
        "n_flipped": flipped,
        "success_rate": flipped / n if n else None,
        "first_flip_kinds": dict(sorted(by_kind.items())),
        "candidates_scored": scored,
    }


def read_distractors(task_dir: Path) -> list[str]:
    """The distractor sentences stored by the tasks stage, or none (the attack then skips that kind)."""
    path = task_dir / DISTRACTORS_FILE
    if not path.is_file():
        return []
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
        raise DataError(f"{path}: expected a JSON list of sentences; rerun `dvc repro tasks`")
    return data


def read_ids(task_dir: Path, split: str) -> list[str]:
    """Row ids of a split (the attack seeds), or row numbers when it has no id column."""
    import pyarrow.parquet as pq

    table = pq.read_table(task_dir / f"{split}.parquet")
    if "id" not in table.column_names:
        return [str(i) for i in range(table.num_rows)]
    return [str(v) for v in table.column("id").to_pylist()]


def family(ctx: Context) -> Result:
    """<system>.perturbed.acc and <system>.attack.* for each classifier and the TF-IDF baseline."""
    cfg = ctx.cfg.robust
    unknown = sorted(set(cfg.kinds) - set(KINDS))
    if unknown:
        raise ParamsError(f"evaluate.robust.kinds: unknown kind(s) {unknown}; known kinds are {list(KINDS)}")
    clean_dir, pert_dir = paths.TASKS_DIR / CLEAN, paths.TASKS_DIR / PERTURBED
    na: dict[str, str] = {}
    detail: dict[str, Any] = {"systems": {}, "na": na}
    if not clean_dir.is_dir():
        reasons = {s: task_not_built(CLEAN) for s in SYSTEMS}
        return _flat({}, reasons, na), detail, []
    predictors: dict[str, Predictor] = {}
    reasons: dict[str, str] = {}
    for system in ("classify", "adversarial"):
        if system in ctx.tasks:
            model_dir = paths.FINETUNE_DIR / system
            predictors[system] = load_classifier(
                model_dir, ctx.cfg.classify.max_length, ctx.cfg.batch_size, ctx.device
            )
        else:
            reasons[system] = not_finetuned(system)
    train = read_split(clean_dir, "train")
    if len(np.unique(train[1])) >= 2:
        predictors["tfidf"] = fit_tfidf(train, ctx.cfg.classify, ctx.seed)
    else:
        reasons["tfidf"] = (
            f"{clean_dir / 'train.parquet'} needs two classes to fit TF-IDF + logistic regression"
        )

    perturbed = read_split(pert_dir, "test") if pert_dir.is_dir() else None
    texts, y = read_split(clean_dir, "test")
    ids = read_ids(clean_dir, "test")
    rng = np.random.default_rng(ctx.seed)
    subset = np.sort(rng.choice(len(y), size=min(cfg.n_attack or len(y), len(y)), replace=False))
    distractors = read_distractors(pert_dir) if pert_dir.is_dir() else []
    values: dict[str, Any] = {}
    for system, predict in predictors.items():
        prefix, out = SYSTEMS[system], {}
        if perturbed is not None and len(perturbed[1]):
            out["perturbed_acc"] = float(np.mean(predict(perturbed[0]) == perturbed[1]))
            values[f"{prefix}.perturbed.acc"] = out["perturbed_acc"]
        if cfg.attack_budget and len(subset):
            out["attack"] = attack(
                predict,
                [texts[i] for i in subset],
                y[subset],
                [f"{ctx.seed}:{ids[i]}" for i in subset],
                cfg.attack_budget,
                cfg.kinds,
                distractors,
            )
            values |= {f"{prefix}.attack.{k}": out["attack"][k] for k in ("n_correct", "n_flipped")}
            if out["attack"]["success_rate"] is not None:
                values[f"{prefix}.attack.success_rate"] = out["attack"]["success_rate"]
        detail["systems"][system] = out
    if perturbed is None:
        na_perturbed = task_not_built(PERTURBED)
    else:
        na_perturbed = f"{pert_dir / 'test.parquet'} has no rows"
    na_attack = (
        "evaluate.robust.attack_budget is 0: no attack"
        if not cfg.attack_budget
        else "no test example is classified correctly, so there is nothing to attack"
    )
    detail |= {
        "attacked_examples": len(subset),
        "distractors": len(distractors),
        "kinds": [k for k in cfg.kinds if k != "distractor" or distractors],
        "method": (
            f"accuracy on {pert_dir / 'test.parquet'}; attack: up to {cfg.attack_budget} candidates per correctly "
            f"classified example of a seeded subset of {len(subset)} clean test texts (seed {ctx.seed}), one "
            "perturbation kind each (stages.common.perturb.attack_variants, seeded per example id); success = "
            "some candidate changes the prediction; success_rate = flipped / correct"
        ),
    }
    return _flat(values, reasons, na, na_perturbed, na_attack), detail, []


def _flat(
    values: dict[str, Any],
    reasons: dict[str, str],
    na: dict[str, str],
    na_perturbed: str = "",
    na_attack: str = "",
) -> dict[str, Any]:
    """Every key of every system: its value, else n/a with the system's reason or the key's own."""
    flat = {}
    for system, prefix in SYSTEMS.items():
        for key in KEYS:
            full = f"{prefix}.{key}"
            flat[full] = values.get(full, NA)
            if full not in values:
                na[full] = reasons.get(system) or (na_perturbed if key.startswith("perturbed") else na_attack)
    return flat

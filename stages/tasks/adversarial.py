"""The `adversarial` task: classify's sentiment splits under seeded, label-preserving attacks.

Kinds (stages/common/perturb.py): typo, swap, insert, homoglyph, case and distractor (a
real vader sentence whose mean human score is within `neutral_band` of 0, which classify
drops, so it adds no sentiment and is in no classify split). Built from the classify
splits written earlier in the same run (`<out>/../classify/`):
- test:  one attacked copy of every classify/test row;
- train: classify/train with `attacked_fraction` of its rows REPLACED by an attacked copy,
         so adversarial fine-tuning gets the same number of examples as plain fine-tuning;
- valid: classify/valid unchanged.
Columns: id, text, label, source, orig_id (the classify id), perturbation ("+"-joined
kinds, "" for a clean row). labels.json is classify's.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from stages.common.errors import DataError
from stages.common.io import read_json, write_json
from stages.common.perturb import DISTRACTORS_FILE, attack
from stages.common.runtime import progress
from stages.tasks.config import AdversarialTaskParams
from stages.tasks.sources import read_vader
from stages.tasks.split import SPLITS

log = logging.getLogger(__name__)

COLUMNS = ("id", "text", "label", "source")


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


def read_classify(classify_dir: Path) -> dict[str, dict[str, list]]:
    """classify's splits as columns; an error naming the task when they are missing."""
    import pyarrow.parquet as pq

    paths = {name: classify_dir / f"{name}.parquet" for name in SPLITS}
    missing = [str(p) for p in (*paths.values(), classify_dir / "labels.json") if not p.is_file()]
    if missing:
        raise DataError(
            f"adversarial: classify split(s) {missing} not found; the adversarial task is built from "
            "the classify task of the same run, so configure tasks.classify"
        )
    cols = {name: pq.read_table(p, columns=list(COLUMNS)).to_pydict() for name, p in paths.items()}
    empty = [name for name, c in cols.items() if not c["id"]]
    if empty:
        raise DataError(
            f"adversarial: classify split(s) {empty} are empty; raise tasks.classify.max_docs or "
            "lower tasks.classify.neutral_band"
        )
    return cols


def distractors(cfg: AdversarialTaskParams, classify_texts: set[str], dropped: Counter) -> list[str]:
    """Near-neutral vader sentences (|score| <= band), none of them a classify text."""
    out, seen = [], set()
    for ex in read_vader(cfg.vader):
        if abs(ex.score) > cfg.neutral_band:
            continue
        key = norm(ex.text)
        if len(ex.text) > cfg.distractor_max_chars or not key:
            dropped["distractor_too_long"] += 1
        elif key in classify_texts:
            dropped["distractor_in_classify"] += 1
        elif key not in seen:
            seen.add(key)
            out.append(ex.text)
    return out


def attacked_rows(
    cols: dict[str, list],
    which: list[int],
    cfg: AdversarialTaskParams,
    rng: random.Random,
    neutral: list[str],
) -> list[dict[str, Any]]:
    """Every row of a classify split; the rows at `which` attacked, the others kept clean."""
    hit = set(which)
    rows = []
    desc = f"adversarial: attack {len(which)}"
    for i in progress(range(len(cols["id"])), desc=desc, unit="texts"):
        row = {k: cols[k][i] for k in COLUMNS} | {"orig_id": cols["id"][i], "perturbation": ""}
        if i in hit:
            kind, text = attack(row["text"], rng, cfg.kinds, cfg.rate, neutral, cfg.kinds_per_text)
            if kind:  # a text no kind can change (no letters, no distractors) stays clean
                row |= {"id": f"adv/{row['id']}", "text": text, "perturbation": kind}
        rows.append(row)
    return rows


def write_split(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(c, pa.int64() if c == "label" else pa.string()) for c in (*COLUMNS, "orig_id", "perturbation")]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd")


def split_stats(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    counts = Counter(labels[r["label"]] for r in rows)
    return {
        "rows": len(rows),
        "labels": {name: counts.get(name, 0) for name in labels},
        "attacked": sum(1 for r in rows if r["perturbation"]),
        "kinds": dict(
            sorted(
                Counter(k for r in rows if r["perturbation"] for k in r["perturbation"].split("+")).items()
            )
        ),
    }


def build(cfg: AdversarialTaskParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Build the task into `out_dir` (created) from its sibling classify/ and return its metrics."""
    classify_dir = out_dir.parent / "classify"
    cols = read_classify(classify_dir)
    labels = read_json(classify_dir / "labels.json")
    dropped: Counter = Counter()
    neutral: list[str] = []
    if "distractor" in cfg.kinds:
        neutral = distractors(cfg, {norm(t) for c in cols.values() for t in c["text"]}, dropped)
        if not neutral:
            raise DataError(
                "adversarial: no near-neutral vader sentence is left for the distractor kind; raise "
                "tasks.adversarial.neutral_band or distractor_max_chars, or drop distractor from kinds"
            )
    rng = random.Random(seed)
    n_train = len(cols["train"]["id"])
    which = {
        "train": rng.sample(range(n_train), round(n_train * cfg.attacked_fraction)),
        "valid": [],
        "test": list(range(len(cols["test"]["id"]))),
    }
    splits = {name: attacked_rows(cols[name], which[name], cfg, rng, neutral) for name in SPLITS}
    unchanged = {
        name: len(which[name]) - sum(1 for r in splits[name] if r["perturbation"]) for name in SPLITS
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        write_split(out_dir / f"{name}.parquet", rows)
    shutil.copyfile(classify_dir / "labels.json", out_dir / "labels.json")
    # The same pool serves evaluate's attack, so its distractor kind draws real neutral text too.
    write_json(out_dir / DISTRACTORS_FILE, neutral)
    return {
        "labels": labels,
        "kinds": list(cfg.kinds),
        "rate": cfg.rate,
        "attacked_fraction": cfg.attacked_fraction,
        "distractors": len(neutral),
        "dropped": dict(sorted(dropped.items())),
        "unchangeable": {k: v for k, v in unchanged.items() if v},
        "splits": {name: split_stats(rows, labels) for name, rows in splits.items()},
    }

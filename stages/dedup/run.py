"""The dedup stage: data/clean -> data/dedup and metrics/dedup.json.

Three filters run in order, each on what the previous one kept:
  1. decontamination: drop documents sharing a long n-gram with any task's valid/test text;
  2. exact: text-dedup exact_hash keeps the first copy of each identical text;
  3. near: text-dedup MinHash-LSH (Jaccard) or LSH Ensemble containment keeps one per cluster.
Decontamination goes first so that its count is every contaminated document, and so
that a contaminated copy is never chosen to stand for a near-duplicate cluster.

Kept documents are written unchanged (every column) in input order. A sample of removed
documents per reason goes to data/dedup/removed/ with the reason and the kept document
they duplicate in `meta`, for audit.

    python -m stages.dedup
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.common.errors import DataError
from stages.common.io import ShardWriter, atomic_dir, iter_docs, write_metrics
from stages.common.params import load_section, load_seed
from stages.common.runtime import progress, seed_everything
from stages.dedup.config import DedupParams

log = logging.getLogger(__name__)

IN_DIR = Path("data/clean")
OUT_DIR = Path("data/dedup")
TASKS_DIR = Path("data/tasks")
METRICS = Path("metrics/dedup.json")
REMOVED_SUBDIR = "removed"
SHARD_DOCS = 2000

REASONS = ("decontaminated", "exact", "near")


@dataclass
class Corpus:
    """The columns dedup decides on, by row number in input order."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class Removal:
    reason: str
    duplicate_of: int | None = None  # row of the kept document (exact, near)
    ngram: str | None = None  # the shared n-gram (decontaminated)


def read_corpus(in_dir: Path) -> Corpus:
    corpus = Corpus()
    for doc in progress(iter_docs(in_dir, columns=["id", "text", "source"]), desc="dedup: read", unit="doc"):
        if not isinstance(doc["text"], str):
            raise DataError(
                f"{in_dir}: document {doc['id']!r} (row {len(corpus.ids)}) has no text "
                f"({doc['text']!r}); rerun the clean stage, which must never write one"
            )
        corpus.ids.append(doc["id"])
        corpus.texts.append(doc["text"])
        corpus.sources.append(doc["source"] or "")
    return corpus


def decontaminate(corpus: Corpus, cfg: DedupParams, tasks_dir: Path, removed: dict[int, Removal]) -> dict:
    from stages.dedup.decontam import build_index

    index, stats = build_index(tasks_dir, cfg.decontaminate)
    for row, text in enumerate(progress(corpus.texts, desc="dedup: decontaminate", unit="doc")):
        gram = index.match(text)
        if gram is not None:
            removed[row] = Removal("decontaminated", ngram=gram)
    return stats


def exact(corpus: Corpus, cfg: DedupParams, removed: dict[int, Removal]) -> None:
    from stages.dedup.textdedup import exact_keep

    rows = [r for r in range(len(corpus.texts)) if r not in removed]
    texts = [corpus.texts[r] for r in rows]
    kept = exact_keep(rows, texts, cfg.num_proc)
    first = {corpus.texts[r]: r for r in sorted(kept)}
    for r, t in zip(rows, texts):
        if r not in kept:
            removed[r] = Removal("exact", duplicate_of=first[t])


def near(corpus: Corpus, cfg: DedupParams, seed: int, removed: dict[int, Removal]) -> dict[str, Any]:
    rows = [r for r in range(len(corpus.texts)) if r not in removed]
    texts = [corpus.texts[r] for r in rows]
    if cfg.near.method == "minhash":
        from stages.dedup.textdedup import minhash_near

        result = minhash_near(rows, texts, cfg.near, seed, cfg.num_proc)
    else:
        from stages.dedup.containment import containment_near

        result = containment_near(rows, texts, cfg.near, seed)
    by_source: Counter[str] = Counter()
    cross = 0
    for cluster in result.clusters:
        (keep,) = [r for r in cluster if r in result.kept]
        for r in cluster:
            if r != keep:
                removed[r] = Removal("near", duplicate_of=keep)
        by_source[corpus.sources[keep]] += 1
        cross += len({corpus.sources[r] for r in cluster}) > 1
    return {
        "clusters": len(result.clusters),
        "clusters_by_source": dict(sorted(by_source.items())),  # by the kept document's source
        "cross_source_clusters": cross,
        "largest_cluster": max((len(c) for c in result.clusters), default=0),
    }


def _audit_doc(doc: dict[str, Any], rm: Removal, corpus: Corpus) -> dict[str, Any]:
    """The removed document with why it went (and what it duplicates) added to `meta`."""
    try:
        meta = json.loads(doc["meta"]) if doc["meta"] else {}
    except json.JSONDecodeError as e:
        raise DataError(
            f"document {doc['id']!r}: meta is not valid JSON ({e}); rerun collect and clean"
        ) from None
    info: dict[str, Any] = {"reason": rm.reason}
    if rm.duplicate_of is not None:
        info["duplicate_of"] = corpus.ids[rm.duplicate_of]
    if rm.ngram is not None:
        info["ngram"] = rm.ngram
    return {**doc, "meta": json.dumps({**meta, "dedup": info}, ensure_ascii=False, sort_keys=True)}


def write_outputs(
    in_dir: Path, out_dir: Path, corpus: Corpus, removed: dict[int, Removal], sample: int
) -> int:
    """Copy kept documents, whole and in input order, to `out_dir`; returns how many."""
    sampled: Counter[str] = Counter()
    with atomic_dir(out_dir) as tmp:
        with ShardWriter(tmp, SHARD_DOCS) as kept, ShardWriter(tmp / REMOVED_SUBDIR, SHARD_DOCS) as audit:
            row = -1
            for row, doc in enumerate(progress(iter_docs(in_dir), desc="dedup: write", unit="doc")):
                if row >= len(corpus.ids) or doc["id"] != corpus.ids[row]:
                    raise DataError(f"{in_dir}: changed while dedup was reading it (row {row}); run again")
                rm = removed.get(row)
                if rm is None:
                    kept.write(doc)
                elif sampled[rm.reason] < sample:
                    sampled[rm.reason] += 1
                    audit.write(_audit_doc(doc, rm, corpus))
            if row + 1 != len(corpus.ids):
                raise DataError(f"{in_dir}: changed while dedup was reading it (rows); run again")
        return kept.rows


def build_metrics(
    corpus: Corpus, removed: dict[int, Removal], written: int, cfg: DedupParams
) -> dict[str, Any]:
    n_in = len(corpus.ids)
    docs_in = Counter(corpus.sources)
    by_reason = {reason: Counter() for reason in REASONS}
    for row, rm in removed.items():
        by_reason[rm.reason][corpus.sources[row]] += 1
    out = n_in - len(removed)
    if out != written:
        raise DataError(f"dedup wrote {written} documents but kept {out}; this is a bug, report it")
    by_source = {}
    for src in sorted(docs_in):
        gone = sum(by_reason[r][src] for r in REASONS)
        by_source[src] = {
            "documents_in": docs_in[src],
            "documents_out": docs_in[src] - gone,
            **{f"{r}_removed": by_reason[r][src] for r in REASONS},
        }
    return {
        "documents_in": n_in,
        "documents_out": out,
        "exact_removed": sum(by_reason["exact"].values()),
        "near_removed": sum(by_reason["near"].values()),
        "decontaminated_removed": sum(by_reason["decontaminated"].values()),
        "kept_fraction": round(out / n_in, 6) if n_in else 0.0,
        "by_source": by_source,
    }


def dedup_dir(in_dir: Path, out_dir: Path, tasks_dir: Path, cfg: DedupParams, seed: int) -> dict[str, Any]:
    """Run all filters on `in_dir` and write `out_dir`; returns the metrics."""
    seed_everything(seed)
    corpus = read_corpus(in_dir)
    removed: dict[int, Removal] = {}
    decontam_stats: dict[str, Any] = {"enabled": cfg.decontaminate.enabled}
    if cfg.decontaminate.enabled:
        decontam_stats |= decontaminate(corpus, cfg, tasks_dir, removed)
    if cfg.exact:
        exact(corpus, cfg, removed)
    near_stats: dict[str, Any] = {"method": cfg.near.method, "threshold": cfg.near.threshold}
    if cfg.near.method != "none":
        near_stats |= near(corpus, cfg, seed, removed)
    written = write_outputs(in_dir, out_dir, corpus, removed, cfg.removed_sample)
    metrics = build_metrics(corpus, removed, written, cfg)
    metrics["near"] = near_stats
    metrics["decontamination"] = decontam_stats
    log.info(
        "%d -> %d documents: %d decontaminated, %d exact and %d near duplicates (%s clusters)",
        metrics["documents_in"],
        metrics["documents_out"],
        metrics["decontaminated_removed"],
        metrics["exact_removed"],
        metrics["near_removed"],
        near_stats.get("clusters", 0),
    )
    return metrics


def main() -> None:
    cfg: DedupParams = load_section("dedup")
    seed = load_seed()
    metrics = dedup_dir(IN_DIR, OUT_DIR, TASKS_DIR, cfg, seed)
    write_metrics(METRICS, metrics)

"""The dedup stage: data/clean -> data/dedup and metrics/dedup.json.

Three filters run in order, each on what the previous one kept:
  1. decontamination: drop documents sharing a long n-gram with any task's valid/test text;
  2. exact: the first copy of each identical text (xxh3_128, as text-dedup's exact_hash) is kept;
  3. near: MinHash-LSH with text-dedup's hashing and banding (Jaccard), or LSH Ensemble
     containment, keeps the first (containment: the longest) document of each cluster.
Decontamination goes first so that its count is every contaminated document, and so
that a contaminated copy is never chosen to stand for a near-duplicate cluster.

Out of core: a scan pass per shard decontaminates and writes exact hashes and band keys
into one file per shard sorted by partition, each partition is grouped alone (its slice
of every shard's file), the candidate rows are joined into clusters (a union-find on the
driver, or large-star/small-star rounds over partitioned edges: `dedup.components`), and
a last pass streams the shards and writes what is kept. A worker holds one shard or one
partition (as many partitions as shards), so its memory follows the shard size; the
driver holds the duplicates only. `engine: local` runs the workers in a process pool,
`engine: ray` as Ray tasks; the output is the same.

Kept documents are written unchanged (every column) in input order. A sample of removed
documents per reason goes to data/dedup/removed/ with the reason and the kept document
they duplicate in `meta`, for audit.

    python -m stages.dedup
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from stages.common.engine import check_engine, engine_session, map_jobs
from stages.common.errors import DataError
from stages.common.io import ShardWriter, atomic_dir, doc_schema, shard_paths, write_metrics
from stages.common.params import load_section, load_seed
from stages.common.runtime import progress, seed_everything
from stages.dedup.config import DedupParams
from stages.dedup.outofcore import ShardTask, Shared, group_bands, group_exact, scan_shard
from stages.dedup.shuffle import components, work_folder
from stages.dedup.star import star_components

log = logging.getLogger(__name__)

IN_DIR = Path("data/clean")
OUT_DIR = Path("data/dedup")
TASKS_DIR = Path("data/tasks")
METRICS = Path("metrics/dedup.json")
REMOVED_SUBDIR = "removed"
SHARD_DOCS = 2000

REASONS = ("decontaminated", "exact", "near")


@dataclass
class Removal:
    reason: str
    duplicate_of: int | None = None  # row of the kept document (exact, near)
    ngram: str | None = None  # the shared n-gram (decontaminated)


@dataclass
class Found:
    """What the passes decided, by row number in input order; holds duplicates, never texts."""

    rows: int
    removed: dict[int, Removal]
    clusters: tuple[tuple[int, ...], ...] = ()


def shard_tasks(in_dir: Path) -> list[ShardTask]:
    """One task per input shard, with the row number of its first document (from parquet footers)."""
    import pyarrow.parquet as pq

    tasks, row = [], 0
    for i, path in enumerate(shard_paths(in_dir)):
        tasks.append(ShardTask(i, path, row))
        row += pq.ParquetFile(path).metadata.num_rows
    return tasks


def _live(groups: Iterable[Sequence[int]], removed: dict[int, Removal]) -> list[list[int]]:
    """A partition's band buckets less the `removed` rows, where two or more rows are left."""
    kept = ([r for r in map(int, g) if r not in removed] for g in groups)
    return [g for g in kept if len(g) > 1]


def find_duplicates(
    in_dir: Path, tasks_dir: Path, cfg: DedupParams, seed: int, work: str
) -> tuple[Found, dict[str, Any]]:
    """The scan, group and components passes; returns the removals and the decontamination counts."""
    tasks = shard_tasks(in_dir)
    index, decontam_stats = None, {"enabled": cfg.decontaminate.enabled}
    if cfg.decontaminate.enabled:
        from stages.dedup.decontam import build_index

        index, stats = build_index(tasks_dir, cfg.decontaminate)
        decontam_stats |= stats
    signer = None
    if cfg.near.method == "minhash":
        from stages.dedup.minhash import Signer

        signer = Signer(cfg.near, seed)
    shared = Shared(work, len(tasks), cfg.exact, index, signer)

    def run(fn: Callable[[Shared, Any], Any], shared: Shared, items: list, what: str) -> Iterator[Any]:
        # partial: `shared` (the task index, the hasher) reaches each worker once, with the function.
        return map_jobs(
            cfg.engine, partial(fn, shared), items, workers=cfg.num_proc, desc=f"dedup {what}", unit=what
        )

    scans = list(run(scan_shard, shared, tasks, "shard"))
    # The group passes read partition files only: the task index stays behind.
    grouping = replace(shared, index=None)
    found = Found(sum(s.rows for s in scans), {})
    log.info("dedup: scanned %d shards (%d documents) on %s", len(tasks), found.rows, cfg.engine)
    for scan in scans:
        for row, gram in scan.contaminated.items():
            found.removed[row] = Removal("decontaminated", ngram=gram)
    parts = list(range(shared.partitions))
    if cfg.exact:
        for groups in run(group_exact, grouping, parts, "partition"):
            for g in groups:
                for r in g[1:]:
                    found.removed[int(r)] = Removal("exact", duplicate_of=int(g[0]))
    if cfg.near.method == "minhash":
        # Rows exactly removed above leave their buckets first, as they leave text-dedup's input.
        buckets = (_live(groups, found.removed) for groups in run(group_bands, grouping, parts, "partition"))
        if cfg.star(found.rows):
            star = star_components(buckets, work, shared.partitions, engine=cfg.engine, workers=cfg.num_proc)
            found.clusters = star.clusters
            log.info("dedup: large-star/small-star converged in %d rounds", star.rounds)
        else:
            found.clusters = components(g for batch in buckets for g in batch)
        for c in found.clusters:
            for r in c[1:]:
                found.removed[r] = Removal("near", duplicate_of=c[0])
    elif cfg.near.method == "containment":
        _containment(in_dir, cfg, seed, found)
    return found, decontam_stats


def _containment(in_dir: Path, cfg: DedupParams, seed: int, found: Found) -> None:
    """LSH Ensemble over the surviving texts, held in memory: containment does not run out of core."""
    import pyarrow.parquet as pq

    from stages.dedup.containment import containment_near

    rows, texts, row = [], [], 0
    for path in shard_paths(in_dir):
        for text in pq.read_table(path, columns=["text"]).column("text").to_pylist():
            if row not in found.removed:
                rows.append(row)
                texts.append(text)
            row += 1
    result = containment_near(rows, texts, cfg.near, seed)
    found.clusters = result.clusters
    for cluster in result.clusters:
        (keep,) = [r for r in cluster if r in result.kept]
        for r in cluster:
            if r != keep:
                found.removed[r] = Removal("near", duplicate_of=keep)


def _audit_doc(doc: dict[str, Any], rm: Removal, ids: dict[int, str]) -> dict[str, Any]:
    """The removed document with why it went (and what it duplicates) added to `meta`."""
    try:
        meta = json.loads(doc["meta"]) if doc["meta"] else {}
    except json.JSONDecodeError as e:
        raise DataError(
            f"document {doc['id']!r}: meta is not valid JSON ({e}); rerun collect and clean"
        ) from None
    info: dict[str, Any] = {"reason": rm.reason}
    if rm.duplicate_of is not None:
        info["duplicate_of"] = ids[rm.duplicate_of]
    if rm.ngram is not None:
        info["ngram"] = rm.ngram
    return {**doc, "meta": json.dumps({**meta, "dedup": info}, ensure_ascii=False, sort_keys=True)}


@dataclass
class Written:
    """What the filter pass saw: documents kept, sources of the rows the metrics need."""

    kept: int
    docs_in: Counter
    removed_by: dict[str, Counter]
    cluster_sources: dict[int, str]


class _KeptShards:
    """Kept rows as arrow slices of the input shards, written `shard_docs` to a file: the files
    ShardWriter would write from the same documents, without a Python object per document."""

    def __init__(self, out_dir: Path, shard_docs: int) -> None:
        self.out_dir, self.shard_docs = out_dir, shard_docs
        self.pending: list[Any] = []
        self.pending_rows = self.shards = self.rows = 0

    def add(self, table: Any) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self.shard_docs:
            self._write(self.shard_docs)

    def close(self) -> None:
        if self.pending_rows:
            self._write(self.pending_rows)

    def _write(self, n: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(self.pending)
        # One chunk per column, as in ShardWriter's table built from lists: the writer sees the same batches.
        pq.write_table(
            table.slice(0, n).combine_chunks(),
            self.out_dir / f"part-{self.shards:05d}.parquet",
            compression="zstd",
        )
        rest = table.slice(n)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        # The allocator keeps freed pages for reuse; handing them back keeps the peak flat.
        pa.default_memory_pool().release_unused()
        self.shards += 1
        self.rows += n


def _doc_table(table: Any) -> Any:
    """`table`'s document columns in doc_schema's order and types; a missing one is all nulls."""
    import pyarrow as pa

    schema = doc_schema()
    cols = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def write_outputs(in_dir: Path, out_dir: Path, found: Found, sample: int) -> Written:
    """Stream the shards once, copying kept documents whole and in input order to `out_dir`.

    The driver holds one input shard and at most one output shard, as arrow tables: its memory
    follows the shard size. Documents never become Python dicts (but the audit sample's): the
    heap that a dict per document leaves behind grows with the number of shards written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    audited: Counter[str] = Counter()
    audit_rows = set()
    for row in sorted(found.removed):
        rm = found.removed[row]
        if audited[rm.reason] < sample:
            audited[rm.reason] += 1
            audit_rows.add(row)
    want_ids = {found.removed[r].duplicate_of for r in audit_rows} - {None}
    in_cluster = {r for c in found.clusters for r in c}
    # The few rows whose source, id or whole document the pass needs, ascending.
    removed = np.array(sorted(found.removed), dtype=np.int64)
    looked_up = np.array(sorted(want_ids | in_cluster | audit_rows), dtype=np.int64)
    ids: dict[int, str] = {}
    audit_docs: list[tuple[dict[str, Any], Removal]] = []
    docs_in: Counter[str] = Counter()
    removed_by = {reason: Counter() for reason in REASONS}
    cluster_sources: dict[int, str] = {}
    first = 0
    with atomic_dir(out_dir) as tmp:
        kept = _KeptShards(tmp, SHARD_DOCS)
        for path in progress(shard_paths(in_dir), desc="dedup: write", unit="shard"):
            table = pq.read_table(path)
            n = table.num_rows
            sources = [s or "" for s in table.column("source").to_pylist()]
            docs_in.update(sources)
            gone = removed[np.searchsorted(removed, first) : np.searchsorted(removed, first + n)]
            for row in gone.tolist():
                removed_by[found.removed[row].reason][sources[row - first]] += 1
            for row in looked_up[
                np.searchsorted(looked_up, first) : np.searchsorted(looked_up, first + n)
            ].tolist():
                if row in want_ids:
                    ids[row] = table.column("id")[row - first].as_py()
                if row in in_cluster:
                    cluster_sources[row] = sources[row - first]
                if row in audit_rows:
                    audit_docs.append((table.slice(row - first, 1).to_pylist()[0], found.removed[row]))
            keep = np.ones(n, dtype=bool)
            keep[gone - first] = False
            kept.add(_doc_table(table.filter(pa.array(keep))))
            first += n
        kept.close()
        if first != found.rows:
            raise DataError(f"{in_dir}: changed while dedup was reading it (rows); run again")
        with ShardWriter(tmp / REMOVED_SUBDIR, SHARD_DOCS) as audit:
            audit.write_many(_audit_doc(doc, rm, ids) for doc, rm in audit_docs)
        return Written(kept.rows, docs_in, removed_by, cluster_sources)


def near_stats(found: Found, written: Written) -> dict[str, Any]:
    by_source: Counter[str] = Counter()
    cross = 0
    for cluster in found.clusters:
        (keep,) = [r for r in cluster if r not in found.removed]
        by_source[written.cluster_sources[keep]] += 1
        cross += len({written.cluster_sources[r] for r in cluster}) > 1
    return {
        "clusters": len(found.clusters),
        "clusters_by_source": dict(sorted(by_source.items())),  # by the kept document's source
        "cross_source_clusters": cross,
        "largest_cluster": max((len(c) for c in found.clusters), default=0),
    }


def build_metrics(found: Found, written: Written) -> dict[str, Any]:
    n_in = found.rows
    out = n_in - len(found.removed)
    if out != written.kept:
        raise DataError(f"dedup wrote {written.kept} documents but kept {out}; this is a bug, report it")
    by_reason = written.removed_by
    by_source = {}
    for src in sorted(written.docs_in):
        gone = sum(by_reason[r][src] for r in REASONS)
        by_source[src] = {
            "documents_in": written.docs_in[src],
            "documents_out": written.docs_in[src] - gone,
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
    check_engine(cfg.engine, "dedup.engine")
    seed_everything(seed)
    with (
        engine_session(cfg.engine, cfg.num_proc),
        work_folder(cfg.shuffle_dir, cfg.engine == "ray" or cfg.num_proc > 1) as work,
    ):
        found, decontam_stats = find_duplicates(in_dir, tasks_dir, cfg, seed, work)
    written = write_outputs(in_dir, out_dir, found, cfg.removed_sample)
    metrics = build_metrics(found, written)
    metrics["near"] = {"method": cfg.near.method, "threshold": cfg.near.threshold}
    if cfg.near.method != "none":
        metrics["near"] |= near_stats(found, written)
    metrics["decontamination"] = decontam_stats
    log.info(
        "%d -> %d documents: %d decontaminated, %d exact and %d near duplicates (%s clusters)",
        metrics["documents_in"],
        metrics["documents_out"],
        metrics["decontaminated_removed"],
        metrics["exact_removed"],
        metrics["near_removed"],
        metrics["near"].get("clusters", 0),
    )
    return metrics


def main() -> None:
    cfg: DedupParams = load_section("dedup")
    seed = load_seed()
    metrics = dedup_dir(IN_DIR, OUT_DIR, TASKS_DIR, cfg, seed)
    write_metrics(METRICS, metrics)

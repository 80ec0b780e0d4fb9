"""The clean stage: data/raw -> data/clean, data/clean/rejected/, metrics/clean.json.

    python -m stages.clean

Input shards are spread over `num_proc` workers of `engine` (stages/common/engine.py: a
local process pool or Ray actors), one shard at a time per worker, each streamed in record batches of `batch_docs` and written as it goes, so
memory stays bounded whatever the corpus size. Output shard i holds what survived of
input shard i (possibly zero rows), so the output is the same whatever `num_proc` is.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from stages.clean.chain import Chain, SourceStats, StepStats, build_steps
from stages.clean.config import CleanParams, stray_sources
from stages.common.engine import check_engine, map_jobs
from stages.common.errors import DataError
from stages.common.io import DOC_COLUMNS, atomic_dir, atomic_file, doc_schema, shard_paths, write_metrics
from stages.common.params import load_section

log = logging.getLogger("stages.clean")

RAW_DIR = Path("data/raw")
CLEAN_DIR = Path("data/clean")
METRICS = Path("metrics/clean.json")


def clean_shard(src: Path, dst: Path, cfg: CleanParams, chain: Chain) -> dict[str, Any]:
    """Clean one parquet shard into `dst`; return its stats and rejected sample."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    chain.reset()
    pf = pq.ParquetFile(src)
    missing = [c for c in DOC_COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise DataError(
            f"{src}: missing column(s) {missing}; rerun collect, which writes {list(DOC_COLUMNS)}"
        )
    schema = doc_schema()
    docs_in = docs_out = chars_in = chars_out = 0
    with pq.ParquetWriter(dst, schema, compression="zstd") as writer:
        for batch in pf.iter_batches(batch_size=cfg.batch_docs, columns=list(DOC_COLUMNS)):
            docs = [d for d in batch.to_pylist() if d["text"] is not None]
            if len(docs) != batch.num_rows:
                raise DataError(
                    f"{src}: {batch.num_rows - len(docs)} document(s) with a null text; fix collect"
                )
            kept = chain.run(docs, where=str(src))
            docs_in += len(docs)
            docs_out += len(kept)
            chars_in += sum(len(d["text"]) for d in docs)
            chars_out += sum(len(d["text"]) for d in kept)
            writer.write_table(pa.Table.from_pylist(kept, schema=schema))
    return {
        "shard": src.name,
        "docs_in": docs_in,
        "docs_out": docs_out,
        "chars_in": chars_in,
        "chars_out": chars_out,
        "docs_changed": chain.docs_changed,
        "steps": chain.stats,
        "sources": chain.sources,
        "rejected": chain.rejected,
    }


class ShardCleaner:
    """The job function of both engines: (input shard, output shard) -> `clean_shard`'s result.

    The chain (models included) is built by `setup`, once per worker; on `local` once in the
    parent before the fork, so the models are shared copy-on-write. On `ray` the driver
    pickles the cleaner before any setup, so the chain never travels."""

    def __init__(self, cfg: CleanParams) -> None:
        self.cfg = cfg
        self.chain: Chain | None = None

    def setup(self) -> None:
        self.chain = Chain(build_steps(self.cfg), self.cfg.rejected_sample)

    def __call__(self, job: tuple[Path, Path]) -> dict[str, Any]:
        assert self.chain is not None, "map_jobs calls setup() before the first job"
        return clean_shard(job[0], job[1], self.cfg, self.chain)


def run_shards(cfg: CleanParams, jobs: list[tuple[Path, Path]]) -> list[dict[str, Any]]:
    """Clean every shard on `cfg.engine`, in parallel when asked to; results come back in shard order."""
    workers = min(cfg.num_proc, len(jobs))
    return list(
        map_jobs(
            cfg.engine, ShardCleaner(cfg), jobs, workers=workers, desc="clean", unit="shard", total=len(jobs)
        )
    )


def summarize(cfg: CleanParams, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-step and total counts. No timings: the same params must give the same metrics."""
    steps = {name: StepStats() for name in cfg.steps}
    for r in results:
        for name, st in r["steps"].items():
            steps[name].merge(st)
    keys = ("docs_in", "docs_out", "docs_changed", "chars_in", "chars_out")
    totals = {k: sum(r[k] for r in results) for k in keys}
    totals["docs_dropped"] = totals["docs_in"] - totals["docs_out"]
    pii: Counter = Counter()
    for st in steps.values():
        pii.update(st.counts)
    sources: dict[str, SourceStats] = {}
    for r in results:
        for name, src in r["sources"].items():
            sources.setdefault(name, SourceStats()).merge(src)
    totals["rules_over_warn_share"] = warn_heavy_rules(sources, cfg.warn_drop_share)
    return {
        "steps": {name: st.as_dict() for name, st in steps.items()},
        "sources": {name: src.as_dict() for name, src in sorted(sources.items())},
        "order": list(cfg.steps),
        "totals": totals,
        "pii_redacted": {k[4:]: v for k, v in sorted(pii.items()) if k.startswith("pii_")},
        "shards": len(results),
    }


def warn_heavy_rules(sources: dict[str, SourceStats], share: float) -> int:
    """Log a warning for each (source, rule) whose drops exceed `share` of the source; count them."""
    n = 0
    for name, src in sorted(sources.items()):
        for (step, reason), dropped in sorted(src.drops.items()):
            if dropped / max(1, src.docs_in) > share:
                n += 1
                log.warning(
                    "rule %s-%s drops %d of %d documents (%.1f%%) of source %r, over clean.warn_drop_share "
                    "%.2f; read data/clean/rejected/%s-%s.jsonl, then give the source another kind in "
                    "clean.quality.source_kinds or change its kind's rules in clean.quality.kinds",
                    step,
                    reason,
                    dropped,
                    src.docs_in,
                    100.0 * dropped / max(1, src.docs_in),
                    name,
                    share,
                    step,
                    reason,
                )
    return n


def write_rejected(out_dir: Path, results: list[dict[str, Any]], limit: int) -> dict[str, int]:
    """Write the first `limit` dropped documents per step and reason, in shard order."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        for key, docs in r["rejected"].items():
            merged.setdefault(key, []).extend(docs)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for key, docs in sorted(merged.items()):
        with atomic_file(out_dir / f"{key}.jsonl") as f:
            for d in docs[:limit]:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        written[key] = min(len(docs), limit)
    return written


def main() -> None:
    cfg: CleanParams = load_section("clean")
    check_engine(cfg.engine, "clean.engine")
    sources = shard_paths(RAW_DIR)
    log.info(
        "cleaning %d shard(s) with steps %s on %d %s worker(s)",
        len(sources),
        list(cfg.steps),
        cfg.num_proc,
        cfg.engine,
    )
    start = time.perf_counter()
    with atomic_dir(CLEAN_DIR) as tmp:
        jobs = [(src, tmp / f"part-{i:05d}.parquet") for i, src in enumerate(sources)]
        results = run_shards(cfg, jobs)
        metrics = summarize(cfg, results)
        metrics["rejected_written"] = write_rejected(tmp / "rejected", results, cfg.rejected_sample)
    write_metrics(METRICS, metrics)
    stray = stray_sources(cfg.quality, metrics["sources"])
    if stray:
        log.warning(
            "clean.quality.source_kinds names %s, which data/raw has no document of; "
            "fix the name or remove it (sources.yaml collect.sources lists the sources)",
            stray,
        )
    t, seconds = metrics["totals"], time.perf_counter() - start
    log.info(
        "kept %d of %d documents (%.1f%% of characters) in %.1f s, %.0f docs/s",
        t["docs_out"],
        t["docs_in"],
        100.0 * t["chars_out"] / max(1, t["chars_in"]),
        seconds,
        t["docs_in"] / max(seconds, 1e-9),
    )

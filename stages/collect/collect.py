"""The collect stage: read every source in params, write documents to data/raw/ as parquet
shards and per-source counts to metrics/collect.json. With collect.canaries.count > 0 it then
plants secret canary sentences in seeded documents (stages/collect/canaries.py), for the
privacy evaluation.

    python -m stages.collect
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from stages.collect.canaries import plant_canaries
from stages.collect.config import CollectParams, SourceParams
from stages.collect.decode import decode_text, decompress, looks_binary, sanitize
from stages.collect.docs import Tally, describe_error, make_doc
from stages.collect.registry import READERS, pick_reader
from stages.collect.sources import File, hf_rows, source_files
from stages.common.engine import check_engine, engine_session, map_jobs
from stages.common.errors import DataError, PipelineError
from stages.common.io import ShardWriter, atomic_dir, write_json, write_metrics
from stages.common.params import load_section, load_seed
from stages.common.runtime import progress

log = logging.getLogger("stages.collect")

OUT_DIR = Path("data/raw")
CANARIES_FILE = "canaries.json"  # beside the shards: the canaries planted, as collect.canaries
METRICS = Path("metrics/collect.json")

Candidate = tuple[str, str, dict[str, Any]]  # text, origin, meta


def file_records(src: SourceParams, tally: Tally) -> Iterator[Candidate]:
    """Candidate documents of a pypi/local/url source, file by file. An error inside one
    file skips the rest of that file (reason bad_file); the records before it and the
    other files are kept."""
    for file in source_files(src):
        tally.files += 1
        data = file.read(src.name)
        yield from guard_file(_read_file(src, file.origin, file.name, data, tally), file.origin, tally)


def _read_file(src: SourceParams, origin: str, name: str, data: bytes, tally: Tally) -> Iterator[Candidate]:
    unpacked = decompress(data, name, origin, tally)
    if unpacked is None:
        return
    data, name = unpacked
    reader = pick_reader(src, name)
    fn, takes_bytes = READERS[reader]
    if not data.strip():
        tally.skip("empty_file", origin, "file is empty")
        return
    if not takes_bytes and looks_binary(data):
        tally.skip("binary_file", origin, f"binary content, not text for the {reader} reader")
        return
    content = data if takes_bytes else decode_text(data, origin, tally)
    for text, rec, meta in fn(content, origin, src, tally):
        yield text, f"{origin}#{rec}", meta


def guard_file(records: Iterator[Candidate], origin: str, tally: Tally) -> Iterator[Candidate]:
    """`records` of one file, until an unexpected error: that skips the rest of the file."""
    n = 0
    try:
        for record in records:
            n += 1
            yield record
    except PipelineError:
        raise
    except Exception as e:
        tally.skip("bad_file", origin, f"reading stopped after {n} records: {describe_error(e)}")


def hf_records(src: SourceParams, tally: Tally) -> Iterator[Candidate]:
    base, rows = hf_rows(src)
    tally.files += 1
    for i, row in enumerate(rows):
        value = row.get(src.text_field)
        if not isinstance(value, str):
            tally.skip("non_string_text", f"{base} row {i}", f"{src.text_field!r} is {type(value).__name__}")
            continue
        meta = {f: row[f] for f in src.meta_fields if f in row}
        if "id" in row and src.text_field != "id":
            meta["record_id"] = row["id"]
        yield value.strip(), f"{base}#{i}", meta


def sanitize_meta(value: Any, where: str, tally: Tally) -> Any:
    """`value` (a meta dict, list or scalar) with every string in it sanitised."""
    if isinstance(value, str):
        return sanitize(value, where, tally)
    if isinstance(value, dict):
        return {sanitize(str(k), where, tally): sanitize_meta(v, where, tally) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize_meta(v, where, tally) for v in value]
    return value


def source_docs(src: SourceParams, records: Iterator[Candidate], tally: Tally) -> Iterator[dict[str, str]]:
    """Documents of `records`, each checked and made into a row; skips are tallied.

    Every record of every reader passes here: its text, origin and meta are sanitised
    (no lone surrogate, NUL or BOM), so no record can fail at the id or the parquet writer.
    """
    for text, origin, meta in records:
        # A local file name can hold undecodable bytes (as lone surrogates); name it printably.
        origin = sanitize(origin, origin.encode("utf-8", "replace").decode(), tally)
        text = sanitize(text, origin, tally)
        if len(text) < src.min_chars:
            tally.skip("empty" if not text else "too_short", origin, f"{len(text)} characters")
            continue
        if len(text) > src.max_chars:
            tally.skip("too_long", origin, f"{len(text)} characters > max_chars {src.max_chars}")
            continue
        yield make_doc(text, src.name, origin, src.license, sanitize_meta(meta, origin, tally))


def collect_source(src: SourceParams, tally: Tally, writer: ShardWriter) -> None:
    """Write the documents of one source, stopping at max_docs; skips are tallied."""
    records = hf_records(src, tally) if src.kind == "hf" else file_records(src, tally)
    for doc in source_docs(src, progress(records, desc=f"collect {src.name}", unit="doc"), tally):
        writer.write(doc)
        tally.keep(doc["text"])
        if src.max_docs and tally.documents >= src.max_docs:
            break


# --- pooled (engine ray, or local with num_proc > 1): the files of the file sources are read,
# decoded and parsed by workers, in windows of about WINDOW_BYTES; this process replays each
# file's documents and tally changes in file order, so the shards, the caps (max_docs) and the
# counts are those of the one-process run. Skips are logged by the workers, not here.
WINDOW_BYTES = 256 * 2**20
_COUNTS = ("skipped", "repaired", "repaired_characters", "charsets")


@dataclass(frozen=True)
class FileJob:
    """One file for a worker: its bytes when they are in memory (archive members), else its path
    or URL, which the worker reads itself (on a cluster: from shared or object storage)."""

    src: SourceParams
    origin: str
    name: str
    data: bytes | None
    url: str = ""
    size: int = -1  # -1: len(data)

    @property
    def nbytes(self) -> int:
        return len(self.data or b"") if self.size < 0 else self.size

    def read(self) -> bytes:
        return File(self.origin, self.name, self.data, self.url).read(self.src.name)


# One file's events, in order: (the tally's changes since the last event, None when there are
# none, then a document, the error that stopped the file, or None at its end).
FileEvents = list[tuple[Tally | None, dict[str, str] | PipelineError | None]]


def _take(tally: Tally) -> Tally | None:
    """A copy of `tally`'s counts, whose own are zeroed; None when they are all empty, as they
    are for most documents, so that those send no Tally back."""
    if not any(getattr(tally, name) for name in _COUNTS):
        return None
    out = Tally(tally.source, fail=tally.fail)
    for name in _COUNTS:
        setattr(out, name, getattr(tally, name))
        setattr(tally, name, Counter())
    return out


def _add(into: Tally, delta: Tally) -> None:
    for name in _COUNTS:
        getattr(into, name).update(getattr(delta, name))


class ReadFile:
    """The pooled job function: one file of a source -> its events (see FileEvents).
    `fail`: collect.on_error is fail, so a skip raises (see Tally)."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def __call__(self, job: FileJob) -> FileEvents:
        tally = Tally(job.src.name, fail=self.fail)
        events: FileEvents = []
        try:
            records = guard_file(
                _read_file(job.src, job.origin, job.name, job.read(), tally), job.origin, tally
            )
            for doc in source_docs(job.src, records, tally):
                events.append((_take(tally), doc))
                # No file gives its source more than max_docs documents: the rest would be replayed by nobody.
                if len(events) == job.src.max_docs:
                    break
        except PipelineError as e:  # a skip under on_error: fail; raised by the driver at its turn
            events.append((_take(tally), e))
            return events
        events.append((_take(tally), None))
        return events


def _file_jobs(group: list[tuple[SourceParams, Tally]]) -> Iterator[FileJob]:
    """The files of `group`'s sources, in order. A capped source's next file is read only while
    its tally is under max_docs; the tally is the replayed one, and the next file is pulled
    after the window before it is replayed, so reading stops where a one-process run stops."""
    for src, tally in group:
        files = source_files(src)
        while not (src.max_docs and tally.documents >= src.max_docs):
            file = next(files, None)
            if file is None:
                break
            yield FileJob(src, file.origin, file.name, file.data, file.url, file.size)


def _byte_windows(jobs: Iterator[FileJob], limit: int) -> Iterator[list[FileJob]]:
    """`jobs` in windows of about `limit` bytes. A capped source's files get windows of their
    own, so that its replay may drop the rest of a window once the cap is reached."""
    window: list[FileJob] = []
    size = 0
    for job in jobs:
        last = window[-1].src if window else None
        if last is not None and last.name != job.src.name and (last.max_docs or job.src.max_docs):
            yield window
            window, size = [], 0
        window.append(job)
        size += job.nbytes
        if size >= limit:
            yield window
            window, size = [], 0
    if window:
        yield window


def collect_files_pooled(
    cfg: CollectParams, group: list[tuple[SourceParams, Tally]], writer: ShardWriter
) -> None:
    """The documents of file sources, parsed by `cfg.num_proc` workers of `cfg.engine`, written
    in the order a one-process run writes them."""
    tallies = {src.name: tally for src, tally in group}
    # One Ray session for every window (map_jobs would start and stop one per call).
    with engine_session(cfg.engine, cfg.num_proc):
        _replay_windows(cfg, tallies, _file_jobs(group), writer)


def _replay_windows(
    cfg: CollectParams, tallies: dict[str, Tally], jobs: Iterator[FileJob], writer: ShardWriter
) -> None:
    """Run each window's files on the workers, then replay them in file order (see above)."""
    for window in _byte_windows(jobs, WINDOW_BYTES):
        results = map_jobs(
            cfg.engine,
            ReadFile(cfg.on_error == "fail"),
            window,
            workers=cfg.num_proc,
            desc="collect",
            unit="file",
            total=len(window),
        )
        for job, events in zip(window, results, strict=True):
            src, tally = job.src, tallies[job.src.name]
            if src.max_docs and tally.documents >= src.max_docs:
                # A one-process run stops reading the source here, and the rest of the window is
                # the source's own (see _byte_windows): its results are dropped unread.
                break
            tally.files += 1
            for delta, event in events:
                if delta is not None:
                    _add(tally, delta)
                if isinstance(event, PipelineError):
                    raise event
                if event is None:
                    break
                writer.write(event)
                tally.keep(event["text"])
                if src.max_docs and tally.documents >= src.max_docs:
                    break
        # A window left at its cap: dropping its results iterator stops its workers (the local
        # pool is terminated) before the next window's files are read.
        del results


def collect(
    cfg: CollectParams, out_dir: Path = OUT_DIR, metrics_path: Path = METRICS, seed: int = 0
) -> dict[str, Any]:
    """Collect every source into `out_dir` atomically; returns (and writes) the metrics.

    `seed` draws the canaries and the documents they are planted in (collect.canaries)."""
    sources = cfg.sources_to_read()
    tallies = [Tally(src.name, fail=cfg.on_error == "fail") for src in sources]
    start = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        with ShardWriter(tmp, cfg.shard_docs) as writer:
            pooled = check_engine(cfg.engine, "collect.engine") == "ray" or cfg.num_proc > 1
            # Pooled, each run of consecutive file sources is read in one pass, in sources.yaml's order.
            pairs = zip(sources, tallies, strict=True)
            for is_hf, run in groupby(pairs, key=lambda pair: pair[0].kind == "hf"):
                group = list(run)
                if pooled and not is_hf:
                    collect_files_pooled(cfg, group, writer)
                else:
                    for src, tally in group:
                        collect_source(src, tally, writer)
            for tally in tallies:
                log.info(
                    "%s: %d documents, %.2f MB, %d skipped %s",
                    tally.source,
                    tally.documents,
                    tally.bytes / 1e6,
                    sum(tally.skipped.values()),
                    dict(tally.skipped),
                )
            if not writer.rows and not writer.buffer:
                raise DataError(
                    "collect: no source yielded a document (see the skip counts above); "
                    "check collect.sources in params.yaml"
                )
        canaries = plant_canaries(tmp, cfg.canaries, seed)
        # evaluate measures the exposure of exactly these canaries: it reads them here, not from params.
        write_json(tmp / CANARIES_FILE, dataclasses.asdict(cfg.canaries))
    metrics = {
        "documents": sum(t.documents for t in tallies),
        "characters": sum(t.characters for t in tallies),
        "bytes": sum(t.bytes for t in tallies),
        "skipped": sum(sum(t.skipped.values()) for t in tallies),
        "shards": writer.shards,
        "sources": {t.source: t.as_metrics() for t in tallies},
        "canaries": canaries,
    }
    write_metrics(metrics_path, metrics)
    log.info("collect took %.1f s", time.perf_counter() - start)
    return metrics


def main() -> None:
    cfg = load_section("collect")
    m = collect(cfg, seed=load_seed())
    log.info(
        "collected %d documents, %.1f MB of text in %d shards", m["documents"], m["bytes"] / 1e6, m["shards"]
    )

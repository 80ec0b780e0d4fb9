"""The workers of dedup's out-of-core passes; each holds one shard or one partition, never the corpus.

  scan (one input shard): decontaminate against the broadcast task index, then write the
      exact hash and the MinHash band keys of every surviving document into partitions;
  group (one partition): sort its records, return the rows that share a key.

The same functions run on a local process pool and on Ray actors (`map_jobs` in
stages/common/engine.py). The shard files (one per shard and kind) live in a work folder
that every worker must see: a temporary folder here, a shared path or URL
(`dedup.shuffle_dir`) on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common.errors import DataError
from stages.dedup.decontam import TaskIndex
from stages.dedup.minhash import Signer
from stages.dedup.ngrams import words
from stages.dedup.shuffle import group_rows, read_partition, record_dtype, write_partitions

EXACT_DIR = "exact"
BANDS_DIR = "bands"
EXACT_DTYPE = record_dtype(4)  # xxh3_128 of the text, as four uint32


@dataclass(frozen=True)
class Shared:
    """What every worker needs, sent once: the task index, the MinHash signer, the work folder."""

    work: str  # a local path or an fsspec URL (dedup.shuffle_dir)
    partitions: int
    exact: bool
    index: TaskIndex | None
    signer: Signer | None

    @property
    def bands_dtype(self) -> np.dtype:
        assert self.signer is not None
        return record_dtype(self.signer.rows + 1)  # the band's number, then its rows


@dataclass(frozen=True)
class ShardTask:
    shard: int
    path: Path
    first_row: int


@dataclass(frozen=True)
class ShardScan:
    rows: int
    contaminated: dict[int, str]  # row -> the shared task n-gram


def scan_shard(shared: Shared, task: ShardTask) -> ShardScan:
    """Decontaminate one shard and write its exact and band records; returns its count and hits."""
    import pyarrow.parquet as pq
    import xxhash

    table = pq.read_table(task.path, columns=["id", "text"])
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    del table
    contaminated: dict[int, str] = {}
    exact_rows: list[int] = []
    exact_keys: list[bytes] = []
    band_rows: list[int] = []
    band_keys: list[np.ndarray] = []
    for i, text in enumerate(texts):
        row = task.first_row + i
        if not isinstance(text, str):
            raise DataError(
                f"{task.path}: document {ids[i]!r} (row {row}) has no text ({text!r}); rerun the clean "
                "stage, which must never write one"
            )
        toks = words(text) if shared.index is not None or shared.signer is not None else []
        if shared.index is not None:
            gram = shared.index.match_words(toks)
            if gram is not None:
                contaminated[row] = gram
                continue
        if shared.exact:
            exact_rows.append(row)
            exact_keys.append(xxhash.xxh3_128_digest(text.encode("utf-8")))
        if shared.signer is not None:
            band_rows.append(row)
            band_keys.append(shared.signer.band_keys_words(toks))
    if exact_rows:
        rec = np.empty(len(exact_rows), dtype=EXACT_DTYPE)
        rec["key"] = np.frombuffer(b"".join(exact_keys), dtype="<u4").reshape(-1, 4)
        rec["row"] = exact_rows
        write_partitions(f"{shared.work}/{EXACT_DIR}", task.shard, rec, shared.partitions)
    if band_rows:
        n_bands = shared.signer.bands
        rec = np.empty(len(band_rows) * n_bands, dtype=shared.bands_dtype)
        keys = rec["key"]  # a view: writing it fills the records
        keys[:, 0] = np.tile(np.arange(n_bands, dtype=np.uint32), len(band_rows))
        keys[:, 1:] = np.concatenate(band_keys)
        rec["row"] = np.repeat(np.asarray(band_rows, dtype=np.int64), n_bands)
        write_partitions(f"{shared.work}/{BANDS_DIR}", task.shard, rec, shared.partitions)
    return ShardScan(len(texts), contaminated)


def group_exact(shared: Shared, part: int) -> list[np.ndarray]:
    """Rows of one partition whose texts hash alike (xxh3_128, as text-dedup's exact_hash)."""
    return group_rows(read_partition(f"{shared.work}/{EXACT_DIR}", part, EXACT_DTYPE))


def group_bands(shared: Shared, part: int) -> list[np.ndarray]:
    """Rows of one partition that share a MinHash band (the same band, equal rows)."""
    return group_rows(read_partition(f"{shared.work}/{BANDS_DIR}", part, shared.bands_dtype))

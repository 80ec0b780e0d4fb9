"""Grouping keys out of core: records partitioned by key, each partition grouped alone.

A scan worker writes its shard's records (a key of fixed width and a row number) into ONE
file, sorted (stably) by partition, the partition chosen by a hash of the key, with the
offsets of every partition's slice in the file's header (the map-side layout of
Spark/MapReduce shuffles); a group worker then reads one partition's slice from every
shard's file (a seek and a read each) and sorts it. A run writes one file per shard and
kind whatever the partition count, where a file per shard and partition would grow with
the square of the shard count. Equal keys always land in the same partition, so no group
spans two, and with as many partitions as input shards a worker holds about one shard's
records whatever the corpus size. Groups are found by comparing whole keys, never their
hashes, so a partition hash collision merges nothing.

Connected components of the groups' rows are then found with a union-find on the driver,
which holds an entry per candidate row, or, past `dedup.union_find_max_docs` documents, by
large-star/small-star rounds over partitioned edge files (star.py).
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.fs import filesystem, is_url, protocol


def record_dtype(width: int, kind: str = "<u4") -> np.dtype:
    """A record: `width` key columns of `kind` and the document's row number."""
    return np.dtype([("key", kind, (width,)), ("row", "<i8")])


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """A stable partition number per key row (xxh3 of its bytes), the same on every worker."""
    import xxhash

    keys = np.ascontiguousarray(keys)
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(k.tobytes()) % partitions for k in keys), dtype=np.int64, count=len(keys)
    )


@contextlib.contextmanager
def work_folder(shuffle_dir: str, workers_apart: bool) -> Iterator[str]:
    """A new folder for one run's partition files, removed afterwards: under the system temp
    folder for "", under `shuffle_dir` otherwise, a local path or an fsspec URL (s3://bucket/tmp).

    `workers_apart`: the passes run in other processes (a pool, Ray), which cannot see this
    process's memory:// filesystem; they would write partitions no later pass reads."""
    if workers_apart and protocol(shuffle_dir) == "memory":
        raise DataError(
            f"dedup.shuffle_dir: {shuffle_dir} is this process's memory, which worker processes do not "
            "share; use num_proc: 1 on engine: local, or a folder or URL every worker reaches"
        )
    if not is_url(shuffle_dir):
        with tempfile.TemporaryDirectory(prefix="dedup-shuffle-", dir=shuffle_dir or None) as work:
            yield work
        return
    fs, root = filesystem(shuffle_dir, "dedup.shuffle_dir")
    work = f"{root.rstrip('/')}/dedup-shuffle-{uuid.uuid4().hex[:12]}"
    fs.makedirs(work, exist_ok=True)
    try:
        yield fs.unstrip_protocol(work)
    finally:
        if fs.exists(work):
            fs.rm(work, recursive=True)


MAGIC = b"DDSHUF01"
# A shard file: MAGIC, the partition count P (<i8), P + 1 offsets (<i8, in records: partition
# p is records [offsets[p], offsets[p + 1])), then the records, sorted by partition.
HEADER = 16


def shard_file(root: str, shard: int) -> str:
    return f"{root}/s{shard:05d}.shuf"


def write_partitions(
    out_dir: str | Path, shard: int, records: np.ndarray, partitions: int, parts: np.ndarray | None = None
) -> None:
    """Write `records` into `out_dir/s<shard>.shuf`, sorted (stably) by partition behind an index
    of each partition's offsets; `out_dir` is a local path or an fsspec URL. `parts`: each
    record's partition, when the caller hashes its keys another way than `partition_of`."""
    fs, root = filesystem(out_dir, "dedup.shuffle_dir")
    parts = partition_of(records["key"], partitions) if parts is None else parts
    offsets = np.zeros(partitions + 1, dtype="<i8")
    np.cumsum(np.bincount(parts, minlength=partitions), out=offsets[1:])
    fs.makedirs(root, exist_ok=True)
    with fs.open(shard_file(root, shard), "wb") as f:
        f.write(MAGIC + np.int64(partitions).astype("<i8").tobytes())
        f.write(offsets.tobytes())
        f.write(records[np.argsort(parts, kind="stable")].tobytes())


def read_slice(f: Any, name: str, part: int, dtype: np.dtype) -> np.ndarray:
    """Partition `part`'s records from the open shard file `f`: the header, two offsets and the
    slice are read, never the rest of the file."""
    head = f.read(HEADER)
    partitions = int(np.frombuffer(head, dtype="<i8", offset=len(MAGIC))[0]) if len(head) == HEADER else -1
    if head[: len(MAGIC)] != MAGIC or not 0 <= part < partitions:
        raise DataError(
            f"{name}: not a dedup shuffle file with partition {part} (header {head!r}); it is another "
            "run's or a damaged file: point dedup.shuffle_dir at a folder no other program writes"
        )
    f.seek(HEADER + 8 * part)
    lo, hi = (int(x) for x in np.frombuffer(f.read(16), dtype="<i8"))
    f.seek(HEADER + 8 * (partitions + 1) + lo * dtype.itemsize)
    data = f.read((hi - lo) * dtype.itemsize)
    if len(data) != (hi - lo) * dtype.itemsize:
        raise DataError(f"{name}: partition {part} is cut short ({len(data)} bytes); rerun the stage")
    return np.frombuffer(data, dtype=dtype)


def read_partition(out_dir: str | Path, part: int, dtype: np.dtype) -> np.ndarray:
    """Partition `part`'s records from every shard's file, in shard order."""
    fs, root = filesystem(out_dir, "dedup.shuffle_dir")
    files = sorted(fs.glob(f"{root}/s*.shuf"))
    arrays = []
    for name in files:
        # cache_type "none": a remote file fetches the ranges asked for, not a block read ahead.
        with fs.open(name, "rb", cache_type="none") as f:
            arrays.append(read_slice(f, name, part, dtype))
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)


def group_rows(records: np.ndarray) -> list[np.ndarray]:
    """Rows of every key held by two or more records, each group's rows ascending."""
    if len(records) < 2:
        return []
    keys, rows = records["key"], records["row"]
    # np.lexsort's last key is the primary one: key columns first, then the row.
    order = np.lexsort((rows, *(keys[:, j] for j in reversed(range(keys.shape[1])))))
    keys, rows = keys[order], rows[order]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(rows))
    return [rows[s:e] for s, e in zip(starts, ends) if e - s > 1]


class UnionFind:
    """Union-find over row numbers; `union` makes a component's smallest row its root.

    `parent` may start as another union-find's links (text-dedup's, whose roots are its own
    choice): `components` reads them the same way."""

    def __init__(self, parent: dict[int, int] | None = None) -> None:
        self.parent: dict[int, int] = dict(parent or {})

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        self.parent.setdefault(ra, ra)
        self.parent.setdefault(rb, rb)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def components(self) -> tuple[tuple[int, ...], ...]:
        """Components of two or more rows, each sorted, in order of their first row."""
        groups: dict[int, list[int]] = {}
        for r in list(self.parent):
            groups.setdefault(self.find(r), []).append(r)
        return tuple(sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1))


def components(groups: Iterable[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """Connected components of rows that share a group (each group is a clique of candidates)."""
    uf = UnionFind()
    for g in groups:
        first = int(g[0])
        for r in g[1:]:
            uf.union(int(r), first)
    return uf.components()

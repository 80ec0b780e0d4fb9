"""Grouping keys out of core: records partitioned by key into files, each partition grouped alone.

A scan worker writes its shard's records (a key of fixed width and a row number) into one
`.npy` file per partition, the partition chosen by a hash of the key; a group worker then
reads every shard's file of one partition and sorts it. Equal keys always land in the
same partition, so no group spans two, and with as many partitions as input shards a
worker holds about one shard's records whatever the corpus size. Groups are found by
comparing whole keys, never their hashes, so a partition hash collision merges nothing.

Connected components of the groups' rows are then found with a union-find on the driver:
the candidate edges are the duplicates only, which fit in memory long after the corpus
does not.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

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


def write_partitions(out_dir: str | Path, shard: int, records: np.ndarray, partitions: int) -> None:
    """Write `records` into `out_dir/p<part>/s<shard>.npy`, one file per non-empty partition;
    `out_dir` is a local path or an fsspec URL."""
    fs, root = filesystem(out_dir, "dedup.shuffle_dir")
    parts = partition_of(records["key"], partitions)
    for p in np.unique(parts):
        folder = f"{root}/p{p:05d}"
        fs.makedirs(folder, exist_ok=True)
        with fs.open(f"{folder}/s{shard:05d}.npy", "wb") as f:
            np.save(f, records[parts == p])


def read_partition(out_dir: str | Path, part: int, dtype: np.dtype) -> np.ndarray:
    fs, root = filesystem(out_dir, "dedup.shuffle_dir")
    files = sorted(fs.glob(f"{root}/p{part:05d}/s*.npy"))
    if not files:
        return np.empty(0, dtype=dtype)
    arrays = []
    for name in files:
        with fs.open(name, "rb") as f:
            arrays.append(np.load(f))
    return np.concatenate(arrays)


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

"""Connected components out of core: large-star / small-star (Kiveris et al. 2014, "Connected
Components in MapReduce and Beyond").

The candidate edges live in partition files (the shuffle layout of shuffle.py: one file per
writer, its records sorted by partition, partition = a hash of the node). A record is
(node, neighbour), filed under the node. Every step is a map over partitions: a worker reads
its partition's records from every file, so it holds one partition's edges, never the graph,
and writes the edges it emits into one file of the next step's folder. Two steps alternate:

  large-star at u: m = min(u and its neighbours); each neighbour v > u is linked to m;
  small-star at u: m = min(u and its neighbours below u); those neighbours and u are linked to m.

Both keep the components (the paper's Lemmas 1 and 2) and together reach, in O(log^2 n)
rounds, a forest of stars whose centre is each component's smallest node. Large-star sees
every node's whole neighbourhood, so it also checks that state locally: a node has at most
one neighbour below it, and one that has one has none above. When every node passes, each
component is one star around its minimum, and a last map reads off (node, centre) pairs. The
centre is the smallest row, which is what UnionFind.union makes a component's root: both give
the filter pass the same clusters and so the same kept document.

The steps are job functions for `map_jobs`, so `engine: local` and `engine: ray` run the same
objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np

from stages.common.engine import map_jobs
from stages.common.errors import DataError
from stages.common.fs import filesystem
from stages.dedup.shuffle import read_partition, record_dtype, write_partitions

EDGE_DTYPE = record_dtype(1, "<i8")  # key: the node the record is filed under; row: its neighbour
STAR_DIR = "star"
MAX_ROUNDS = 200  # far above O(log^2 n) for any corpus; reaching it means a bug, not a big graph


def node_partition(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """A node's partition: splitmix64's finaliser of its id, vectorised (xxh3 per key, as the band
    keys use, costs a Python call a record, and a round writes every edge twice)."""
    with np.errstate(over="ignore"):
        z = nodes.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z % np.uint64(partitions)).astype(np.int64)


def write_edges(folder: str, writer: int, node: np.ndarray, neighbour: np.ndarray, partitions: int) -> None:
    """Records (node, neighbour) into `folder`'s file number `writer`, filed under `node`."""
    rec = np.empty(len(node), dtype=EDGE_DTYPE)
    rec["key"][:, 0] = node
    rec["row"] = neighbour
    write_partitions(folder, writer, rec, partitions, parts=node_partition(node, partitions))


def _both_ways(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each edge filed under both ends: large-star needs every node's whole neighbourhood."""
    return np.concatenate([hi, lo]), np.concatenate([lo, hi])


@dataclass(frozen=True)
class Step:
    """One map over the partitions: read `src`'s records, write what `kind` emits into `dst`."""

    work: str
    partitions: int
    kind: Literal["large", "small", "labels"]
    src: str
    dst: str


@dataclass(frozen=True)
class StepResult:
    edges: int  # distinct records this partition read
    star: bool  # large-star: every node of this partition already passes the star check
    nodes: np.ndarray | None = None  # labels: a node and its component's smallest node
    centres: np.ndarray | None = None


def _neighbourhoods(work: str, src: str, part: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A partition's distinct records (self-loops dropped), sorted by node then neighbour, and the
    index where each node's run starts."""
    rec = read_partition(f"{work}/{src}", part, EDGE_DTYPE)
    u, v = rec["key"][:, 0], rec["row"]
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    keep = u != v
    keep[1:] &= (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v = u[keep], v[keep]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.empty(0, dtype=np.int64)
    return u, v, starts


def run_step(step: Step, part: int) -> StepResult:
    """One partition of a large-star, small-star or labels step (a job function for `map_jobs`)."""
    u, v, starts = _neighbourhoods(step.work, step.src, part)
    if not len(u):
        return StepResult(0, True, np.empty(0, np.int64), np.empty(0, np.int64))
    counts = np.diff(np.r_[starts, len(u)])
    below = np.add.reduceat((v < u).astype(np.int64), starts)
    if step.kind == "labels":
        # A star's leaf: its one record below it names the centre.
        leaf = v < u
        return StepResult(len(u), True, u[leaf], v[leaf])
    # Neighbours are sorted, so a node's first one is its smallest.
    m = np.minimum(u[starts], v[starts])
    per_rec = np.repeat(m, counts)
    if step.kind == "large":
        above = counts - below
        star = bool(np.all(below <= 1) and not np.any((below == 1) & (above > 0)))
        up = v > u
        hi, lo = v[up], per_rec[up]  # hi > u >= m: never a self-loop
        # Small-star reads each edge at its larger end.
        write_edges(f"{step.work}/{step.dst}", part, hi, lo, step.partitions)
        return StepResult(len(u), star)
    # small: records filed under the larger end; the neighbours below u, and u, go to m.
    down = v < u
    leaf = down & (v != per_rec)
    has_below = below > 0
    hi = np.concatenate([v[leaf], u[starts][has_below]])
    lo = np.concatenate([per_rec[leaf], m[has_below]])
    write_edges(f"{step.work}/{step.dst}", part, *_both_ways(hi, lo), step.partitions)
    return StepResult(len(u), False)


@dataclass
class StarRun:
    """Components (each sorted, in order of their first row, as `shuffle.components`) and rounds."""

    clusters: tuple[tuple[int, ...], ...]
    rounds: int
    edges: int  # distinct candidate edges (each way) that the first round read


def star_components(
    batches: Iterable[Iterable[Sequence[int]]],
    work: str,
    partitions: int,
    *,
    engine: str,
    workers: int,
) -> StarRun:
    """Connected components of rows that share a group, found by large-star/small-star rounds.

    Each batch of groups (one band partition's, say) becomes one edge file: a group's rows are
    linked to its first, as `shuffle.components` unions them. `work` is the run's work folder
    (a path or URL every worker sees); the driver holds one batch at a time and the result."""
    root = f"{work}/{STAR_DIR}"
    src = "r000-large"
    for i, groups in enumerate(batches):
        groups = list(groups)
        if groups:
            write_edges(f"{root}/{src}", i, *_both_ways(*_group_edges(groups)), partitions)

    def step(kind: Literal["large", "small", "labels"], src: str, dst: str) -> list[StepResult]:
        job = partial(run_step, Step(root, partitions, kind, src, dst))
        parts = range(partitions)
        return list(
            map_jobs(engine, job, parts, workers=workers, desc=f"dedup {kind}-star", unit="partition")
        )

    first_edges = None
    for rnd in range(1, MAX_ROUNDS + 1):
        large = step("large", src, f"r{rnd:03d}-small")
        first_edges = sum(r.edges for r in large) if first_edges is None else first_edges
        if all(r.star for r in large):
            labels = step("labels", src, "")
            return StarRun(_clusters(labels), rnd, first_edges)
        _remove(f"{root}/{src}")  # a round's files are read once: the disk holds two rounds at most
        step("small", f"r{rnd:03d}-small", f"r{rnd:03d}-large")
        _remove(f"{root}/r{rnd:03d}-small")
        src = f"r{rnd:03d}-large"
    raise DataError(
        f"dedup: large-star/small-star did not converge in {MAX_ROUNDS} rounds; this is a bug, report it "
        "(components: union_find avoids it for now)"
    )


def _group_edges(groups: list[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each group's rows after its first, and that first row: the edges `shuffle.components` unions."""
    sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    rows = np.fromiter(itertools.chain.from_iterable(groups), dtype=np.int64, count=int(sizes.sum()))
    starts = np.cumsum(sizes) - sizes
    rest = np.ones(len(rows), dtype=bool)
    rest[starts[sizes > 0]] = False
    return rows[rest], np.repeat(rows[starts[sizes > 0]], sizes[sizes > 0] - 1)


def _remove(folder: str) -> None:
    fs, path = filesystem(folder, "dedup.shuffle_dir")
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _clusters(labels: list[StepResult]) -> tuple[tuple[int, ...], ...]:
    nodes = np.concatenate([r.nodes for r in labels if r.nodes is not None] or [np.empty(0, np.int64)])
    centres = np.concatenate([r.centres for r in labels if r.centres is not None] or [np.empty(0, np.int64)])
    order = np.lexsort((nodes, centres))
    nodes, centres = nodes[order].tolist(), centres[order].tolist()
    out: list[tuple[int, ...]] = []
    i = 0
    while i < len(nodes):
        j = i
        while j < len(nodes) and centres[j] == centres[i]:
            j += 1
        out.append((centres[i], *nodes[i:j]))
        i = j
    return tuple(out)

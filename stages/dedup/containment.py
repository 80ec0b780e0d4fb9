"""Containment near-dedup: drop a document most of whose shingles occur in a longer one.

MinHash estimates Jaccard similarity, which stays low when a short text is copied out of
a long one (a 100-word excerpt of a 2,000-word article has Jaccard <= 0.05). Containment
|A & B| / |A| is high in that case. datasketch's LSH Ensemble proposes candidate pairs
from MinHash signatures partitioned by set size, at a lower `lsh_threshold` because its
recall near the threshold is poor; each candidate is then checked on the exact shingle
sets, so the LSH only decides what is compared, never what is dropped.
In each cluster the longest document (then the earliest row) is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from stages.common.runtime import progress
from stages.dedup.config import NearParams
from stages.dedup.ngrams import shingle_set
from stages.dedup.shuffle import UnionFind
from stages.dedup.textdedup import NearResult

log = logging.getLogger(__name__)


def _identity(x):
    # Shingles are already 64-bit hashes; datasketch's affine64 scheme mixes them itself.
    return x


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a| for sorted unique shingle arrays."""
    if len(a) == 0:
        return 0.0
    return len(np.intersect1d(a, b, assume_unique=True)) / len(a)


def containment_near(rows: Sequence[int], texts: Sequence[str], params: NearParams, seed: int) -> NearResult:
    """Cluster rows whose shingles are contained (>= threshold) in another row's."""
    from datasketch import MinHash, MinHashLSHEnsemble

    sets = {r: shingle_set(t, params.ngram) for r, t in zip(rows, texts)}
    live = [r for r in rows if len(sets[r])]
    sigs = {}
    for r in progress(live, desc="dedup: containment signatures", unit="doc"):
        m = MinHash(num_perm=params.num_perm, seed=seed % 2**32, hashfunc=_identity, scheme="affine64")
        m.update_batch(sets[r].tolist())
        sigs[r] = m
    uf = UnionFind()
    if len(live) >= 2:
        lsh = MinHashLSHEnsemble(
            threshold=params.lsh_threshold, num_perm=params.num_perm, num_part=params.partitions
        )
        lsh.index((r, sigs[r], len(sets[r])) for r in live)
        size = {r: len(sets[r]) for r in live}
        candidates = checked = 0
        for r in progress(live, desc="dedup: containment queries", unit="doc"):
            for other in lsh.query(sigs[r], size[r]):
                # Only the smaller document (ties: the later row) can be the copy.
                if other == r or (size[other], -other) < (size[r], -r):
                    continue
                candidates += 1
                if containment(sets[r], sets[other]) >= params.threshold:
                    checked += 1
                    uf.union(r, other)
        log.info("containment: %d candidate pairs, %d confirmed", candidates, checked)
    return _result(rows, uf, sets)


def _result(rows: Sequence[int], uf: UnionFind, sets: dict[int, np.ndarray]) -> NearResult:
    clusters = uf.components()
    dropped = set()
    for c in clusters:
        keep = max(c, key=lambda r: (len(sets[r]), -r))
        dropped.update(r for r in c if r != keep)
    return NearResult(frozenset(r for r in rows if r not in dropped), clusters)

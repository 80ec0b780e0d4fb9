"""Params of the dedup stage: the `dedup:` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.common.params import require


@dataclass(frozen=True)
class NearParams:
    """Near-duplicate detection over word n-gram shingles.

    `minhash` drops documents whose estimated Jaccard similarity to another reaches
    `threshold` (text-dedup's MinHash-LSH). `containment` drops a document when at least
    `threshold` of its shingles occur in a longer one (datasketch LSH Ensemble, then an
    exact check), which also catches short passages copied out of a long source.
    """

    method: Literal["minhash", "containment", "none"]
    threshold: float
    num_perm: int
    ngram: int
    hash_func: Literal["xxh3", "sha1"]
    partitions: int
    lsh_threshold: float

    def __post_init__(self) -> None:
        require(0.0 < self.threshold <= 1.0, "threshold", f"{self.threshold} must be in (0, 1]")
        require(self.num_perm >= 16, "num_perm", f"{self.num_perm} is too few permutations; use 64 or more")
        require(self.ngram >= 1, "ngram", f"{self.ngram} must be at least 1 (words per shingle)")
        require(self.partitions >= 1, "partitions", "must be at least 1")
        require(
            0.0 < self.lsh_threshold <= self.threshold,
            "lsh_threshold",
            f"{self.lsh_threshold} must be in (0, threshold={self.threshold}]",
        )


@dataclass(frozen=True)
class DecontamParams:
    """Drop pre-training documents that share a long word n-gram with evaluation text."""

    enabled: bool
    ngram: int
    min_words: int

    def __post_init__(self) -> None:
        require(self.ngram >= 4, "ngram", f"{self.ngram} words would match common phrases; use 8 to 13")
        require(
            0 <= self.min_words <= self.ngram,
            "min_words",
            f"{self.min_words} must be between 0 (off) and ngram ({self.ngram})",
        )
        require(
            self.min_words == 0 or self.min_words >= 4,
            "min_words",
            "below 4 words whole-text matching hits common phrases; use 0 (off) or 4 and more",
        )


@dataclass(frozen=True)
class DedupParams:
    engine: Literal["local", "ray"]
    shuffle_dir: str
    num_proc: int
    exact: bool
    removed_sample: int
    components: Literal["auto", "union_find", "star"]
    union_find_max_docs: int
    near: NearParams
    decontaminate: DecontamParams

    def __post_init__(self) -> None:
        require(self.num_proc >= 1, "num_proc", f"{self.num_proc} must be at least 1")
        require(self.removed_sample >= 0, "removed_sample", "must be 0 or more")
        require(
            self.union_find_max_docs >= 0,
            "union_find_max_docs",
            f"{self.union_find_max_docs} must be 0 or more (0: auto always runs star)",
        )

    def star(self, documents: int) -> bool:
        """Whether near-duplicate clusters of a corpus of `documents` are found by large-star/small-star."""
        return self.components == "star" or (
            self.components == "auto" and documents > self.union_find_max_docs
        )

"""Word n-grams as 64-bit hashes, shared by decontamination and containment dedup.

Words are lower-cased `\\w+` runs. A word hashes with xxh64 (stable across processes,
unlike `hash()`), and an n-gram is a polynomial of its word hashes mod 2**64, computed
for every window at once with numpy so that a long document costs one vector product.
"""

from __future__ import annotations

import re

import numpy as np

WORD = re.compile(r"\w+", re.UNICODE)
# An odd 64-bit multiplier: the polynomial is a bijection in each word position.
_BASE = np.uint64(0x9E3779B97F4A7C15)


def words(text: str) -> list[str]:
    """Lower-cased word tokens of `text`; punctuation and spacing never block a match."""
    return WORD.findall(text.lower())


def word_ids(tokens: list[str]) -> np.ndarray:
    """One stable 64-bit hash per token."""
    import xxhash

    return np.fromiter(
        (xxhash.xxh64_intdigest(t.encode("utf-8")) for t in tokens), dtype=np.uint64, count=len(tokens)
    )


def window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of `n` consecutive word ids (empty if there are fewer than `n`)."""
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    m = len(ids) - n + 1
    h = ids[:m].copy()
    # Horner's rule, one vector op per position; uint64 wraps around, the intended mod 2**64.
    with np.errstate(over="ignore"):
        for j in range(1, n):
            h *= _BASE
            h += ids[j : j + m]
    return h


def shingle_set(text: str, n: int) -> np.ndarray:
    """Sorted unique n-gram hashes of `text`; a text shorter than `n` words is one shingle."""
    ids = word_ids(words(text))
    if len(ids) == 0:
        return np.empty(0, dtype=np.uint64)
    return np.unique(window_hashes(ids, min(n, len(ids))))

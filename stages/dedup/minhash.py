"""MinHash band keys computed one document at a time, bit for bit as text-dedup 0.4.0 does.

text-dedup's `minhash.embed_func` shingles the lower-cased text split on `\\W` into word
n-grams, hashes each with xxh3 (low 32 bits) or sha1, permutes with `(a*h + b) mod
(2**61 - 1) & (2**32 - 1)` in wrapping uint64 arithmetic, and cuts the signature into
B bands of R rows chosen by its `optimal_param`. The permutations come from
`np.random.RandomState(seed)`, drawn in the same order. Two documents share a band key
here exactly when they share one in text-dedup, so the clusters are the same; only the
grouping (per-shard records, partitioned, instead of in-memory hash tables) differs.
"""

from __future__ import annotations

import hashlib
import re
import struct

import numpy as np

from stages.dedup.config import NearParams
from stages.dedup.ngrams import words

NON_ALPHA = re.compile(r"\W", re.UNICODE)  # text-dedup's splitter
_MAX_HASH = np.uint32((1 << 32) - 1)
_PRIME = np.uint64((1 << 61) - 1)


def _xxh3_32(data: bytes) -> int:
    import xxhash

    return xxhash.xxh3_64_intdigest(data) & 0xFFFFFFFF


def _sha1_32(data: bytes) -> int:
    return struct.unpack("<I", hashlib.sha1(data, usedforsecurity=False).digest()[:4])[0]


class Signer:
    """Band keys of a text: a (bands, rows) uint32 array; picklable, so it is broadcast to workers."""

    def __init__(self, params: NearParams, seed: int):
        from text_dedup.utils import optimal_param

        self.num_perm = params.num_perm
        self.ngram = params.ngram
        self.hash_func = params.hash_func
        self.bands, self.rows = optimal_param(params.threshold, params.num_perm, 0.5, 0.5)
        rng = np.random.RandomState(seed % 2**32)
        self.a = rng.randint(1, _PRIME, size=(params.num_perm,), dtype=np.uint64)
        self.b = rng.randint(0, _PRIME, size=(params.num_perm,), dtype=np.uint64)

    def shingles(self, toks: list[str]) -> set[bytes]:
        """text-dedup's shingles of the text our stage hands it: a text's `words`, one space apart."""
        seq = NON_ALPHA.split(" ".join(toks).lower())
        n = self.ngram
        grams = [seq] if len(seq) < n else [seq[i : i + n] for i in range(len(seq) - n + 1)]
        return {" ".join(g).lower().encode("utf-8") for g in grams}

    def band_keys(self, text: str) -> np.ndarray:
        return self.band_keys_words(words(text))

    def band_keys_words(self, toks: list[str]) -> np.ndarray:
        """`band_keys` of a text's `words`."""
        hash_one = _xxh3_32 if self.hash_func == "xxh3" else _sha1_32
        tokens = self.shingles(toks)
        hv = np.array([hash_one(t) for t in tokens], dtype=np.uint64).reshape(len(tokens), 1)
        with np.errstate(over="ignore"):  # text-dedup relies on uint64 wrap-around here
            hv = (hv * self.a + self.b) % _PRIME & _MAX_HASH
        sig = np.vstack([hv, np.full(self.num_perm, _MAX_HASH, dtype=np.uint64)]).min(axis=0)
        return sig[: self.bands * self.rows].astype(np.uint32).reshape(self.bands, self.rows)

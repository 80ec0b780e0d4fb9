"""Seeded train/valid split by document id.

A document's side depends only on (seed, id), never on its position in the shards, so
the split is stable when other documents come or go, and no document can be on both
sides: every token of a document goes where its id hashes.
"""

from __future__ import annotations

import hashlib


def is_valid_doc(doc_id: str, seed: int, valid_fraction: float) -> bool:
    """True when document `doc_id` belongs to the validation split."""
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest()
    # 64 hash bits as a uniform number in [0, 1).
    return int.from_bytes(digest, "big") / 2**64 < valid_fraction

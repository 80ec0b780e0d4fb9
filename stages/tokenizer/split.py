"""Seeded train/valid split by document id.

A document's side depends only on (seed, id), never on its position in the shards, so
the split is stable when other documents come or go, and no document can be on both
sides: every token of a document goes where its id hashes. The tokenizer's training sample
is drawn the same way.
"""

from __future__ import annotations

import hashlib


def _uniform(key: str) -> float:
    # 64 hash bits as a uniform number in [0, 1).
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def is_valid_doc(doc_id: str, seed: int, valid_fraction: float) -> bool:
    """True when document `doc_id` belongs to the validation split."""
    return _uniform(f"{seed}:{doc_id}") < valid_fraction


def in_train_sample(doc_id: str, seed: int, fraction: float) -> bool:
    """True when train document `doc_id` is in the tokenizer's training sample; a hash of its own
    (salted apart from the split's), so the sample is a uniform draw among the train documents."""
    return fraction >= 1.0 or _uniform(f"sample:{seed}:{doc_id}") < fraction

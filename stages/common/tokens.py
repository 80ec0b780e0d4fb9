"""Read the packed token data the tokenizer stage writes: meta.json and one .bin memmap a split.

pretrain samples training windows from these files and evaluate scores the model on them;
both read them here, so a file that does not match its meta.json fails the same way in both,
and both measure the same unigram baseline (pretrain's model card, evaluate's metrics).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.io import read_json

# What the tokenizer stage always writes and what the readers rely on.
META_KEYS = ("dtype", "vocab_size", "eos_id", "pad_id", "n_tokens")


def read_meta(tokens_dir: Path) -> dict[str, Any]:
    """meta.json of `tokens_dir`, checked to hold every key in META_KEYS."""
    path = tokens_dir / "meta.json"
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise DataError(f"{path}: is not a JSON object; rerun the tokenizer stage (dvc repro tokenizer)")
    for key in META_KEYS:
        if key not in meta:
            raise DataError(
                f"{path}: key {key!r} is missing; rerun the tokenizer stage (dvc repro tokenizer)"
            )
    return meta


def open_split(tokens_dir: Path, split: str, meta: dict[str, Any]) -> np.ndarray:
    """The split's tokens as a read-only memmap, checked against the count in meta.json."""
    path = tokens_dir / f"{split}.bin"
    if not path.is_file():
        raise DataError(f"{path}: not found; run the tokenizer stage (dvc repro tokenizer)")
    try:
        dtype = np.dtype(meta["dtype"])
    except TypeError:
        raise DataError(f"{tokens_dir / 'meta.json'}: dtype {meta['dtype']!r} is not a numpy dtype") from None
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise DataError(
            f"{path}: {size} bytes is not a whole number of {dtype} tokens; rerun the tokenizer stage"
        )
    n = size // dtype.itemsize
    want = (meta.get("n_tokens") or {}).get(split)
    if want is not None and int(want) != n:
        raise DataError(f"{path}: holds {n} tokens but meta.json says {want}; rerun the tokenizer stage")
    if n == 0:  # np.memmap refuses an empty file
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def split_bytes(meta: dict[str, Any], split: str) -> int | None:
    """UTF-8 bytes of text behind a split, or None when the tokenizer stage did not record it."""
    value = (meta.get("n_bytes") or {}).get(split)
    return int(value) if value else None


def unigram_nats(train: np.ndarray, vocab: int, targets: np.ndarray) -> float:
    """Summed nats of an add-one unigram model of train.bin on the same target tokens."""
    counts = np.bincount(np.asarray(train, dtype=np.int64), minlength=vocab)[:vocab].astype(np.float64)
    logp = np.log(counts + 1.0) - math.log(counts.sum() + vocab)
    return float(-logp[targets].sum())

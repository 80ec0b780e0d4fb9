"""Seeded random windows from the packed token files, read through np.memmap.

A batch is `batch_size` contiguous windows of context_length + 1 tokens at uniformly
random offsets; the files are never loaded whole. Masked-LM batches are made from the
same windows by masking tokens with a seeded torch generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.io import read_json


def load_meta(tokens_dir: Path) -> dict[str, Any]:
    meta = read_json(tokens_dir / "meta.json")
    for key in ("dtype", "vocab_size", "eos_id", "pad_id", "n_tokens"):
        if key not in meta:
            raise DataError(f"{tokens_dir / 'meta.json'}: key {key!r} is missing; rerun the tokenizer stage")
    return meta


def open_tokens(tokens_dir: Path, split: str, meta: dict[str, Any], context_length: int) -> np.memmap:
    """The memmap of `split`.bin, checked against meta.json and long enough for one window."""
    path = tokens_dir / f"{split}.bin"
    if not path.exists():
        raise DataError(f"{path}: not found; run the tokenizer stage (dvc repro tokenizer)")
    dtype = np.dtype(meta["dtype"])
    if path.stat().st_size % dtype.itemsize:
        raise DataError(f"{path}: size is not a multiple of {dtype.name}; rerun the tokenizer stage")
    arr = np.memmap(path, dtype=dtype, mode="r")
    expected = meta["n_tokens"].get(split)
    if expected is not None and arr.size != expected:
        raise DataError(
            f"{path}: holds {arr.size} tokens but meta.json says {expected}; rerun the tokenizer stage"
        )
    if arr.size < context_length + 2:
        raise DataError(
            f"{path}: {arr.size} tokens is fewer than one window of context_length + 1 = "
            f"{context_length + 1}; lower pretrain.model.context_length or add data"
        )
    return arr


def sample_windows(tokens: np.memmap, rng: np.random.Generator, batch_size: int, context_length: int):
    """A LongTensor [batch_size, context_length + 1] of windows at seeded random offsets."""
    import torch

    starts = rng.integers(0, tokens.size - context_length - 1, size=batch_size)
    rows = np.stack([np.asarray(tokens[s : s + context_length + 1], dtype=np.int64) for s in starts])
    return torch.from_numpy(rows)


def mask_tokens(window, gen, mask_id: int, vocab_size: int, mask_prob: float, special_ids: tuple[int, ...]):
    """BERT-style masking of `window` [B, T]: returns (input_ids, labels with -100 where not predicted)."""
    import torch

    inputs = window.clone()
    labels = window.clone()
    chosen = torch.rand(window.shape, generator=gen) < mask_prob
    for sid in special_ids:  # separators are structure, not something to predict
        chosen &= window != sid
    labels[~chosen] = -100
    roll = torch.rand(window.shape, generator=gen)
    inputs[chosen & (roll < 0.8)] = mask_id
    randomize = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[randomize] = torch.randint(0, vocab_size, window.shape, generator=gen)[randomize]
    return inputs, labels

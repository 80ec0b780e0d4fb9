"""Read the packed token data written by the tokenizer stage: meta.json and the .bin memmaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.io import read_json


def read_meta(tokens_dir: Path) -> dict[str, Any]:
    meta = read_json(tokens_dir / "meta.json")
    if not isinstance(meta, dict) or "dtype" not in meta:
        raise DataError(f"{tokens_dir / 'meta.json'}: has no 'dtype'; rerun `dvc repro tokenizer`")
    return meta


def open_split(tokens_dir: Path, split: str, meta: dict[str, Any]) -> np.ndarray:
    """The split's tokens as a read-only memmap, checked against the count in meta.json."""
    path = tokens_dir / f"{split}.bin"
    if not path.is_file():
        raise DataError(f"{path}: not found; run `dvc repro tokenizer`")
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
        raise DataError(f"{path}: holds {n} tokens but meta.json says {want}; rerun `dvc repro tokenizer`")
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def split_bytes(meta: dict[str, Any], split: str) -> int | None:
    """UTF-8 bytes of text behind a split, or None when the tokenizer stage did not record it."""
    value = (meta.get("n_bytes") or {}).get(split)
    return int(value) if value else None

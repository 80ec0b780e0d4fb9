"""Labelled text splits -> token ids -> padded batches, grouped by length for CPU speed."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stages.common.errors import DataError


@dataclass
class Encoded:
    """One tokenized split: token ids per text, integer labels, and how many were cut."""

    ids: list[list[int]]
    labels: list[int]
    truncated: int


def read_labels(task_dir: Path) -> list[str]:
    path = task_dir / "labels.json"
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        labels = None
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise DataError(f"{path}: missing or not a JSON list of >= 2 label names; rerun the tasks stage")
    return labels


def read_split(task_dir: Path, split: str, n_labels: int) -> tuple[list[str], list[int]]:
    """Texts and labels of `<task_dir>/<split>.parquet`, checked against the label count."""
    import pyarrow.parquet as pq

    path = task_dir / f"{split}.parquet"
    if not path.is_file():
        raise DataError(f"{path}: not found; run the tasks stage first (dvc repro tasks)")
    table = pq.read_table(path)
    for col in ("text", "label"):
        if col not in table.column_names:
            raise DataError(f"{path}: has no {col!r} column; rerun the tasks stage")
    texts = table.column("text").to_pylist()
    labels = table.column("label").to_pylist()
    for i, (t, y) in enumerate(zip(texts, labels)):
        if not isinstance(t, str) or not isinstance(y, int) or not 0 <= y < n_labels:
            raise DataError(
                f"{path} row {i}: text must be a string and label an int in [0, {n_labels}); got {y!r}"
            )
    if not texts:
        raise DataError(f"{path}: is empty; raise tasks.<task>.max_docs")
    return texts, labels


def encode(tokenizer, texts: list[str], labels: list[int], max_length: int) -> Encoded:
    """Tokenize without padding (batches pad to their own longest text)."""
    full = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    truncated = sum(len(x) > max_length for x in full)
    ids = [x[:max_length] if len(x) > max_length else x for x in full]
    if any(len(x) == 0 for x in ids):
        raise DataError("a text encodes to zero tokens; check the tokenizer in models/pretrain")
    return Encoded(ids, labels, truncated)


def batches(data: Encoded, batch_size: int, pad_id: int, rng: random.Random | None) -> Iterator[dict]:
    """Padded batches of tensors. With `rng`: shuffled, but texts of similar length share a
    batch (sorted within windows of 50 batches), which cuts padding and CPU time."""
    import torch

    order = list(range(len(data.ids)))
    if rng is not None:
        rng.shuffle(order)
        window = batch_size * 50
        order = [
            i
            for s in range(0, len(order), window)
            for i in sorted(order[s : s + window], key=lambda j: len(data.ids[j]))
        ]
    chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)
    for chunk in chunks:
        width = max(len(data.ids[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            ids[r, : len(data.ids[i])] = torch.tensor(data.ids[i])
            mask[r, : len(data.ids[i])] = 1
        yield {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.tensor([data.labels[i] for i in chunk]),
        }

"""Task splits -> token ids -> padded batches, grouped by length for CPU speed.

Shared by every task: reading a split's columns (with a clear error when the tasks stage
made none), labels.json, and batching of per-text or per-token labels.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stages.common.errors import DataError


@dataclass
class Encoded:
    """One tokenized split: token ids per text, labels (one int per text, or one per token,
    -100 where no loss is taken), and how many texts were cut."""

    ids: list[list[int]]
    labels: list[int] | list[list[int]]
    truncated: int


def read_labels(task_dir: Path) -> list[str]:
    path = task_dir / "labels.json"
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        labels = None
    ok = isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)
    if not ok or len(set(labels)) != len(labels):
        raise DataError(
            f"task {task_dir.name}: {path}: missing, or not a JSON list of >= 2 distinct label names; "
            "rerun the tasks stage"
        )
    return labels


def read_columns(task_dir: Path, split: str, columns: tuple[str, ...]) -> dict[str, list]:
    """The named columns of `<task_dir>/<split>.parquet`; errors name the task and the fix."""
    import pyarrow.parquet as pq

    task, path = task_dir.name, task_dir / f"{split}.parquet"
    if not path.is_file():
        raise DataError(f"task {task}: {path} not found; run the tasks stage first (dvc repro tasks)")
    table = pq.read_table(path)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(f"task {task}: {path} has no column(s) {missing}; rerun the tasks stage")
    if table.num_rows == 0:
        raise DataError(
            f"task {task}: {path} has no rows, so there is nothing to fine-tune on; check the "
            f"tasks.{task} params and rerun the tasks stage, or drop {task} from finetune.tasks"
        )
    return {c: table.column(c).to_pylist() for c in columns}


def read_split(task_dir: Path, split: str, n_labels: int) -> tuple[list[str], list[int]]:
    """Texts and labels of `<task_dir>/<split>.parquet`, checked against the label count."""
    cols = read_columns(task_dir, split, ("text", "label"))
    texts, labels = cols["text"], cols["label"]
    for i, (t, y) in enumerate(zip(texts, labels)):
        if not isinstance(t, str) or not isinstance(y, int) or not 0 <= y < n_labels:
            raise DataError(
                f"{task_dir / split}.parquet row {i}: text must be a string and label an int in "
                f"[0, {n_labels}); got {y!r}"
            )
    return texts, labels


def encode(tokenizer, texts: list[str], labels: list[int], max_length: int) -> Encoded:
    """Tokenize without padding (batches pad to their own longest text)."""
    full = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    truncated = sum(len(x) > max_length for x in full)
    ids = [x[:max_length] if len(x) > max_length else x for x in full]
    if any(len(x) == 0 for x in ids):
        raise DataError("a text encodes to zero tokens; check the tokenizer in models/pretrain")
    return Encoded(ids, labels, truncated)


def batches(
    data: Encoded, batch_size: int, pad_id: int, rng: random.Random | None, pad_left: bool = False
) -> Iterator[dict]:
    """Padded batches of tensors. With `rng`: shuffled, but texts of similar length share a
    batch (sorted within windows of 50 batches), which cuts padding and CPU time.

    Per-token labels are padded with -100. `pad_left` puts the padding in front, so that the
    last position is a real token: a decoder classifier fed `inputs_embeds` (no input ids to
    find the padding in) pools the last position."""
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
    per_token = bool(data.labels) and isinstance(data.labels[0], list)
    for chunk in chunks:
        width = max(len(data.ids[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long) if per_token else None
        for r, i in enumerate(chunk):
            n = len(data.ids[i])
            cols = slice(width - n, width) if pad_left else slice(0, n)
            ids[r, cols] = torch.tensor(data.ids[i])
            mask[r, cols] = 1
            if per_token:
                labels[r, cols] = torch.tensor(data.labels[i])
        if not per_token:
            labels = torch.tensor([data.labels[i] for i in chunk])
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}

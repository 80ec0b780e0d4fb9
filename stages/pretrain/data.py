"""pretrain's inputs: the token files, long enough for a window, and the objective they train.

The files are read through np.memmap (stages/common/tokens.py), never loaded whole; the
windows, masks and batches are stages/common/lm_train.py's, the same that finetune's
domain task continues pre-training with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.lm_train import LmObjective
from stages.common.tokens import open_split
from stages.pretrain.config import ModelParams


def open_tokens(tokens_dir: Path, split: str, meta: dict[str, Any], context_length: int) -> np.ndarray:
    """The memmap of `split`.bin, checked against meta.json and long enough for one window."""
    arr = open_split(tokens_dir, split, meta)
    if arr.size < context_length + 2:
        raise DataError(
            f"{tokens_dir / split}.bin: {arr.size} tokens is fewer than one window of context_length + 1 = "
            f"{context_length + 1}; lower pretrain.model.context_length or add data"
        )
    return arr


def objective(m: ModelParams, meta: dict[str, Any]) -> LmObjective:
    """The objective of `m` on the token files of `meta`."""
    return LmObjective(
        kind=m.objective,
        context_length=m.context_length,
        mask_id=meta.get("mask_id"),
        vocab_size=meta["vocab_size"],
        mask_prob=m.mask_prob,
        special_ids=(meta["eos_id"], meta["pad_id"]),
        aux_loss_weight=m.moe.aux_loss_weight if m.moe.n_experts > 0 else 0.0,
    )

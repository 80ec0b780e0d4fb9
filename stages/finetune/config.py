"""Params of the finetune stage (`finetune:` in params.yaml), shared by every task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.common.params import require
from stages.finetune.registry import KINDS


@dataclass(frozen=True)
class FinetuneParams:
    tasks: tuple[str, ...] = ("classify",)  # dvc.yaml runs one stage per entry (foreach)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the hardware has it
    lr: float = 3.0e-4
    epochs: int = 3  # the most epochs; early stopping may end sooner
    batch_size: int = 32
    max_length: int = 128  # tokens per text; longer texts are truncated (and counted)
    warmup_ratio: float = 0.1  # of all planned steps; then linear decay to 0
    weight_decay: float = 0.01  # on matrices only, not on biases and norms
    grad_clip: float = 1.0  # 0 = off
    patience: int = 1  # stop after this many epochs without a better valid accuracy
    log_every: int = 10  # optimizer steps between train-loss points on the curve

    def __post_init__(self) -> None:
        require(len(self.tasks) > 0, "tasks", f"name at least one of {sorted(KINDS)}")
        for t in self.tasks:
            require(t in KINDS, "tasks", f"{t!r} is not a known task; known tasks are {sorted(KINDS)}")
        require(len(set(self.tasks)) == len(self.tasks), "tasks", "must not repeat a task")
        require(0.0 < self.lr < 1.0, "lr", "must be in (0, 1), e.g. 3.0e-4")
        require(self.epochs >= 1, "epochs", "must be at least 1")
        require(self.batch_size >= 1, "batch_size", "must be at least 1")
        require(self.max_length >= 8, "max_length", "must be at least 8 tokens")
        require(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "must be in [0, 1), e.g. 0.1")
        require(self.weight_decay >= 0.0, "weight_decay", "must be >= 0")
        require(self.grad_clip >= 0.0, "grad_clip", "must be >= 0 (0 turns clipping off)")
        require(self.patience >= 1, "patience", "must be at least 1 epoch")
        require(self.log_every >= 1, "log_every", "must be at least 1 step")

"""Params of the pretrain stage (`pretrain:` in params.yaml): model shape and training budget."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stages.common.init_from import InitFrom, PypiGguf
from stages.common.params import require

# RoPE models take any length we give them; ModernBERT's own default ceiling is 8192.
MAX_CONTEXT = 8192
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENDPOINT = re.compile(r"^\S+:[0-9]{1,5}$")


@dataclass(frozen=True)
class MoeParams:
    n_experts: int
    top_k: int
    aux_loss_weight: float
    impl: Literal["auto", "hf", "megablocks"]

    def __post_init__(self) -> None:
        require(self.n_experts >= 0, "n_experts", "must be 0 (dense) or a positive number of experts")
        if self.n_experts:
            require(
                1 <= self.top_k <= self.n_experts,
                "top_k",
                f"must be between 1 and n_experts ({self.n_experts})",
            )
        require(self.aux_loss_weight >= 0, "aux_loss_weight", "must be >= 0")


@dataclass(frozen=True)
class ModelParams:
    objective: Literal["clm", "mlm"]
    n_layers: int
    n_heads: int
    n_kv_heads: int
    hidden_size: int
    ffn_size: int
    context_length: int
    dropout: float
    tie_embeddings: bool
    mask_prob: float
    moe: MoeParams

    def __post_init__(self) -> None:
        for key in ("n_layers", "n_heads", "n_kv_heads", "hidden_size", "ffn_size", "context_length"):
            require(getattr(self, key) >= 1, key, "must be a positive integer")
        require(
            self.hidden_size % self.n_heads == 0,
            "hidden_size",
            f"{self.hidden_size} is not a multiple of n_heads ({self.n_heads}); "
            "pick a head count that divides it, or change hidden_size",
        )
        require(
            (self.hidden_size // self.n_heads) % 2 == 0,
            "hidden_size",
            "hidden_size / n_heads must be even for rotary embeddings",
        )
        require(self.n_heads % self.n_kv_heads == 0, "n_kv_heads", f"must divide n_heads ({self.n_heads})")
        require(self.context_length <= MAX_CONTEXT, "context_length", f"must be at most {MAX_CONTEXT}")
        require(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        if self.objective == "mlm":
            require(
                self.n_kv_heads == self.n_heads,
                "n_kv_heads",
                "must equal n_heads for mlm (ModernBERT has no grouped-query attention)",
            )
            require(self.moe.n_experts == 0, "moe.n_experts", "must be 0 for mlm (no MoE encoder is built)")
            require(0.0 < self.mask_prob < 1.0, "mask_prob", "must be in (0, 1) for mlm")


@dataclass(frozen=True)
class TrainParams:
    max_steps: int
    max_tokens: int
    batch_size: int
    grad_accum: int
    lr: float
    min_lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    eval_every: int
    eval_batches: int
    log_every: int
    precision: Literal["auto", "fp32", "bf16"]
    compile: bool
    checkpoint_every: int
    warn_epochs: float

    def __post_init__(self) -> None:
        require(self.max_steps >= 1, "max_steps", "must be at least 1")
        require(self.max_tokens >= 0, "max_tokens", "must be 0 (use max_steps) or a token budget")
        for key in ("batch_size", "grad_accum", "eval_every", "eval_batches", "log_every"):
            require(getattr(self, key) >= 1, key, "must be at least 1")
        require(self.lr > 0, "lr", "must be positive")
        require(0 <= self.min_lr <= self.lr, "min_lr", f"must be between 0 and lr ({self.lr})")
        require(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        require(self.grad_clip >= 0, "grad_clip", "must be >= 0 (0 = off)")
        require(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0 = off)")
        require(self.warn_epochs > 0, "warn_epochs", "must be > 0")

    def total_steps(self, tokens_per_step: int) -> int:
        """Optimizer steps in the budget: from max_tokens when set, else max_steps."""
        if self.max_tokens > 0:
            return max(1, -(-self.max_tokens // tokens_per_step))
        return self.max_steps


@dataclass(frozen=True)
class PretrainParams:
    init_from: InitFrom
    device: Literal["auto", "cpu", "cuda"]
    gpus: int
    nodes: int
    node_rank: int | str  # a rank, or the name of the environment variable that holds it
    rdzv_endpoint: str
    rdzv_id: str
    parallel: Literal["ddp", "fsdp"]
    model: ModelParams
    train: TrainParams

    def __post_init__(self) -> None:
        require(
            isinstance(self.init_from, PypiGguf) or bool(self.init_from.strip()),
            "init_from",
            "must be scratch, a model folder, a .gguf file or {package, sha256, member}",
        )
        require(self.gpus >= 1, "gpus", "must be at least 1")
        self._check_nodes()
        if self.model.moe.impl == "megablocks":
            require(self.device != "cpu", "model.moe.impl", "megablocks needs CUDA; use auto or hf on CPU")

    @property
    def processes(self) -> int:
        """Training processes in all: gpus on each of nodes."""
        return self.gpus * self.nodes

    def _check_nodes(self) -> None:
        require(self.nodes >= 1, "nodes", "must be at least 1")
        require(bool(_ENV_NAME.match(self.rdzv_id)), "rdzv_id", "use letters, digits and _ only")
        if isinstance(self.node_rank, str):
            require(
                bool(_ENV_NAME.match(self.node_rank)),
                "node_rank",
                f"{self.node_rank!r} is neither a rank nor an environment variable name (e.g. SLURM_NODEID)",
            )
        else:
            require(
                0 <= self.node_rank < self.nodes,
                "node_rank",
                f"is {self.node_rank} but nodes is {self.nodes}: give 0..{self.nodes - 1}, "
                "or the name of the environment variable that holds it",
            )
        if self.nodes == 1:
            require(
                not self.rdzv_endpoint,
                "rdzv_endpoint",
                f"is {self.rdzv_endpoint!r} but nodes is 1: set nodes to the number of machines, or clear it",
            )
        else:
            require(
                bool(_ENDPOINT.match(self.rdzv_endpoint)),
                "rdzv_endpoint",
                f"nodes is {self.nodes}: set it to host:port of node 0, the same on every node "
                "(e.g. node001:29500)",
            )

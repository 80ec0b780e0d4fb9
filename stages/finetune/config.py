"""Params of the finetune stage (`finetune:` in params.yaml): shared keys, then one section per task.

NER, domain adaptation and classification want different learning rates and epochs, so
each task has its own `TrainParams` (`TextTrainParams` where texts are cut at
`max_length`; domain packs windows of `context_length` instead). Adversarial training has no `TrainParams` of its own:
it trains with the classify section's, so its budget (epochs, lr, batch size) is the same
as plain fine-tuning by construction and evaluate can compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.common.init_from import SCRATCH, PypiGguf
from stages.common.params import require
from stages.finetune.registry import KINDS, NOT_FINETUNE_TASKS


@dataclass(frozen=True)
class TrainParams:
    """The training budget and optimizer of one task."""

    lr: float
    epochs: int
    batch_size: int
    warmup_ratio: float
    weight_decay: float
    grad_clip: float
    patience: int
    log_every: int

    def __post_init__(self) -> None:
        require(0.0 < self.lr < 1.0, "lr", "must be in (0, 1), e.g. 3.0e-4")
        require(self.epochs >= 1, "epochs", "must be at least 1")
        require(self.batch_size >= 1, "batch_size", "must be at least 1")
        require(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "must be in [0, 1), e.g. 0.1")
        require(self.weight_decay >= 0.0, "weight_decay", "must be >= 0")
        require(self.grad_clip >= 0.0, "grad_clip", "must be >= 0 (0 turns clipping off)")
        require(self.patience >= 1, "patience", "must be at least 1 validation")
        require(self.log_every >= 1, "log_every", "must be at least 1 step")


@dataclass(frozen=True)
class TextTrainParams(TrainParams):
    """The budget of a task that reads one text at a time, cut at `max_length` tokens."""

    max_length: int

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.max_length >= 8, "max_length", "must be at least 8 tokens")


@dataclass(frozen=True)
class ClassifyParams(TextTrainParams):
    """Sequence classification (also adversarial's budget), optionally after task-adaptive
    pre-training of the backbone on the train texts (`adapt_*`, stages/finetune/adapt.py)."""

    text_boundary: Literal["none", "end", "both"]
    adapt_steps: int
    adapt_lr: float
    adapt_batch_size: int
    adapt_mask_prob: float

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.adapt_steps >= 0, "adapt_steps", "must be >= 0 (0 = no task-adaptive pre-training)")
        require(0.0 < self.adapt_lr < 1.0, "adapt_lr", "must be in (0, 1), e.g. 3.0e-4")
        require(self.adapt_batch_size >= 1, "adapt_batch_size", "must be at least 1 window")
        require(0.0 < self.adapt_mask_prob < 1.0, "adapt_mask_prob", "must be in (0, 1), e.g. 0.15")


@dataclass(frozen=True)
class NerParams(TextTrainParams):
    """Token classification on the silver NER labels."""

    echo: bool
    label_subword: Literal["auto", "first", "last"]
    mention_replacement: int
    replace_prob: float

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.mention_replacement >= 0, "mention_replacement", "must be >= 0 copies (0 = off)")
        require(0.0 < self.replace_prob <= 1.0, "replace_prob", "must be in (0, 1], e.g. 0.5")


@dataclass(frozen=True)
class DomainParams(TrainParams):
    """Continued pretraining on the domain texts, with the pretraining objective."""

    init_from: str | PypiGguf
    context_length: int
    mask_prob: float
    max_steps: int
    eval_every: int
    valid_windows: int

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            not isinstance(self.init_from, str) or self.init_from.strip() not in ("", SCRATCH),
            "init_from",
            "must be 'pretrain', a model folder, a .gguf file or {package, sha256, member}",
        )
        require(self.context_length >= 8, "context_length", "must be at least 8 tokens")
        require(0.0 < self.mask_prob < 1.0, "mask_prob", "must be in (0, 1), e.g. 0.15")
        for key in ("max_steps", "eval_every", "valid_windows"):
            require(getattr(self, key) >= 0, key, "must be >= 0 (0 = off)")


@dataclass(frozen=True)
class AdversarialParams:
    """Embedding-space adversarial training (FreeLB or PGD) on the classify section's budget."""

    method: Literal["freelb", "pgd"]
    adv_steps: int
    adv_lr: float
    adv_eps: float
    init_mag: float

    def __post_init__(self) -> None:
        require(self.adv_steps >= 1, "adv_steps", "must be at least 1")
        require(self.adv_lr > 0.0, "adv_lr", "must be > 0")
        require(self.adv_eps > 0.0, "adv_eps", "must be > 0 (the L2 radius of the perturbation)")
        require(self.init_mag >= 0.0, "init_mag", "must be >= 0 (0 starts from no perturbation)")


# Sections each task needs besides its own name (adversarial trains on classify's budget).
NEEDS: dict[str, tuple[str, ...]] = {
    "classify": ("classify",),
    "ner": ("ner",),
    "domain": ("domain",),
    "adversarial": ("adversarial", "classify"),
}


@dataclass(frozen=True)
class FinetuneParams:
    tasks: tuple[str, ...]
    device: Literal["auto", "cpu", "cuda"]
    precision: Literal["auto", "fp32", "bf16"]
    classify: ClassifyParams | None
    ner: NerParams | None
    domain: DomainParams | None
    adversarial: AdversarialParams | None

    def __post_init__(self) -> None:
        require(len(self.tasks) > 0, "tasks", f"name at least one of {sorted(KINDS)}")
        for t in self.tasks:
            require(t not in NOT_FINETUNE_TASKS, "tasks", f"{t!r}: {NOT_FINETUNE_TASKS.get(t)}")
            require(t in KINDS, "tasks", f"{t!r} is not a known task; known tasks are {sorted(KINDS)}")
        require(len(set(self.tasks)) == len(self.tasks), "tasks", "must not repeat a task")
        for t in self.tasks:
            self.check_needs(t)

    def check_needs(self, task: str) -> None:
        """The sections `task` trains with are present (a ParamsError naming the section if not)."""
        for section in NEEDS[task]:
            why = "its training budget" if section == task else f"the budget {task} trains with"
            require(
                getattr(self, section) is not None,
                section,
                f"missing, but task {task!r} needs it for {why}; add the section "
                "(copy it from the repository's params.yaml) or drop the task from finetune.tasks",
            )

    def train_params(self, task: str) -> TrainParams:
        """The TrainParams `task` trains with (adversarial: the classify section's)."""
        self.check_needs(task)
        return getattr(self, "classify" if task == "adversarial" else task)

"""Params of the finetune stage (`finetune:` in params.yaml): shared keys, then one section per task.

NER, domain adaptation and classification want different learning rates and epochs, so
each task has its own `TrainParams`. Adversarial training has no `TrainParams` of its own:
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

    lr: float = 3.0e-4
    epochs: int = 3  # the most epochs; early stopping may end sooner
    batch_size: int = 32
    max_length: int = 128  # tokens per text; longer texts are truncated (and counted)
    warmup_ratio: float = 0.1  # of all planned steps; then linear decay to 0
    weight_decay: float = 0.01  # on matrices only, not on biases and norms
    grad_clip: float = 1.0  # 0 = off
    patience: int = 1  # stop after this many validations without a better valid score
    log_every: int = 10  # optimizer steps between train-loss points on the curve

    def __post_init__(self) -> None:
        require(0.0 < self.lr < 1.0, "lr", "must be in (0, 1), e.g. 3.0e-4")
        require(self.epochs >= 1, "epochs", "must be at least 1")
        require(self.batch_size >= 1, "batch_size", "must be at least 1")
        require(self.max_length >= 8, "max_length", "must be at least 8 tokens")
        require(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "must be in [0, 1), e.g. 0.1")
        require(self.weight_decay >= 0.0, "weight_decay", "must be >= 0")
        require(self.grad_clip >= 0.0, "grad_clip", "must be >= 0 (0 turns clipping off)")
        require(self.patience >= 1, "patience", "must be at least 1 validation")
        require(self.log_every >= 1, "log_every", "must be at least 1 step")


@dataclass(frozen=True)
class NerParams(TrainParams):
    """Token classification on the silver NER labels."""

    # Causal backbones read each sentence twice and tag the second copy, so every token's
    # tag can depend on the words after it (see stages/common/subwords.echo); masked
    # (bidirectional) backbones see both sides already and ignore it.
    echo: bool = True
    # Which subword of each word carries its tag: first (the HF convention) or last; auto
    # takes last on a causal backbone, whose first subword has not seen the rest of its word
    # ("ĠM" of "ĠM os c ow"), and first on a masked one (stages/common/subwords).
    label_subword: Literal["auto", "first", "last"] = "auto"
    # Mention replacement: this many extra copies of each training sentence, each entity
    # swapped with probability `replace_prob` for a same-type entity of the train split.
    mention_replacement: int = 0
    replace_prob: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.mention_replacement >= 0, "mention_replacement", "must be >= 0 copies (0 = off)")
        require(0.0 < self.replace_prob <= 1.0, "replace_prob", "must be in (0, 1], e.g. 0.5")


@dataclass(frozen=True)
class DomainParams(TrainParams):
    """Continued pretraining on the domain texts, with the pretraining objective.

    `max_length` is unused here: the text is packed into windows of `context_length`.
    """

    # "pretrain" (models/pretrain) | a local HF model folder | a local .gguf file |
    # {package: name==version, sha256, member}: a .gguf inside a pinned PyPI distribution
    init_from: str | PypiGguf = "pretrain"
    context_length: int = 256  # tokens per packed window (capped at the model's positions)
    mask_prob: float = 0.15  # mlm only: share of tokens masked, as in pretrain
    max_steps: int = 0  # 0 = epochs decide; > 0 caps the optimizer steps
    eval_every: int = 0  # steps between valid passes (early stopping); 0 = once per epoch
    valid_windows: int = 0  # valid windows per pass, spread evenly over domain/valid; 0 = all

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

    method: Literal["freelb", "pgd"] = "freelb"
    adv_steps: int = 2  # K ascent steps per batch (FreeLB: K forward/backward passes; PGD: K + 2)
    adv_lr: float = 0.03  # ascent step size, along the L2-normalised gradient
    adv_eps: float = 0.3  # L2 bound on each example's perturbation
    init_mag: float = 0.2  # uniform start, scaled by 1/sqrt(tokens * hidden) as in FreeLB

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
    tasks: tuple[str, ...] = ("classify", "ner", "domain", "adversarial")  # dvc.yaml: one stage each
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the hardware has it
    classify: TrainParams | None = None
    ner: NerParams | None = None
    domain: DomainParams | None = None
    adversarial: AdversarialParams | None = None

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
                "(copy it from profiles/tiny.yaml) or drop the task from finetune.tasks",
            )

    def train_params(self, task: str) -> TrainParams:
        """The TrainParams `task` trains with (adversarial: the classify section's)."""
        self.check_needs(task)
        return getattr(self, "classify" if task == "adversarial" else task)

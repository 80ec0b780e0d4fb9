"""One plain torch training loop for every task, with early stopping on a valid score.

Plain torch rather than the HF Trainer: on a 2-core CPU it starts faster, and every knob
is a param we can read here. The optimizer, schedule and precision are the shared ones of
stages/common/optim.py: AdamW (decay on matrices only), linear warmup then linear decay,
optional bf16 autocast, gradient clipping. A valid pass runs once per epoch (or every
`eval_every` steps); the best pass's weights are kept and restored at the end.

What differs between tasks is a `Strategy`: its batches, its loss, how it scores the
valid split, and (adversarial training) how one batch's gradients are made. A strategy
that draws its own batches (domain adaptation: pretrain's step) gives the whole step.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from stages.common.errors import PipelineError
from stages.common.optim import (
    FINETUNE_BETAS,
    TrainState,
    autocast,
    finish_step,
    linear_schedule,
    make_optimizer,
    start_step,
)
from stages.common.runtime import progress
from stages.finetune.config import TrainParams

log = logging.getLogger(__name__)


@dataclass
class TrainEnv:
    """Where and how to train: device, precision ("bf16" autocast or "fp32"), the seed, a dvclive Live."""

    device: str
    precision: str
    seed: int
    live: Any


@dataclass
class Strategy:
    """What one task plugs into the loop.

    `loss(model, batch)` is the forward pass of a training batch (already on the device) and
    returns a scalar tensor. `backward(model, batch)`, when given, replaces `loss(...).backward()`
    and returns the loss to log (adversarial training runs several passes per batch).
    `validate(model)` returns the valid scores, `metric` names the one that picks the best
    weights.

    A strategy that draws its own batches gives `step(state) -> (loss, tokens)`, one whole
    optimizer step on the TrainState, instead of `train_batches` and `loss`; `batches` is
    then its seeded batch source, and `betas`/`fused` its optimizer's (make_optimizer)."""

    metric: str
    higher_is_better: bool
    n_batches: int  # training batches (optimizer steps) per epoch
    validate: Callable[[Any], dict[str, float]]
    train_batches: Callable[[random.Random], Iterable[dict]] | None = None
    loss: Callable[[Any, dict], Any] | None = None
    backward: Callable[[Any, dict], float] | None = None
    step: Callable[[TrainState], tuple[float, int]] | None = None
    batches: Any = None
    betas: tuple[float, float] = FINETUNE_BETAS
    fused: bool | None = None


@dataclass
class FitResult:
    best_valid: float = math.nan
    best_epoch: int = 0
    best_step: int = 0
    epochs_run: int = 0
    steps: int = 0
    stopped_early: bool = False
    train_time_s: float = 0.0
    train_tokens: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def eval_outputs(model, batches: Iterable[dict], env: TrainEnv) -> Iterator[tuple[dict, Any]]:
    """Each valid batch (on the device) with the model's float32 logits: eval mode, no grad."""
    import torch

    model.eval()
    with torch.no_grad():
        for batch in batches:
            batch = to_device(batch, env.device)
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            with autocast(env.device, env.precision):
                logits = model(**inputs).logits
            yield batch, logits.float()
    model.train()


def n_tokens(batch: dict) -> int:
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else batch["input_ids"].numel()


def cpu_copy(model) -> dict:
    """The weights copied out to the CPU: the live tensors keep changing as training goes on."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class _Run:
    """The loop's moving parts, so that the steps and the valid passes share them."""

    model: Any
    task: Strategy
    tp: TrainParams
    env: TrainEnv
    res: FitResult
    best_state: dict | None = None
    stale: int = 0
    valid_step: int = -1  # the step of the last valid pass
    window: list[float] = field(default_factory=list)
    since_valid: list[float] = field(default_factory=list)

    def step(self, state: TrainState, batch: dict | None) -> None:
        """One optimizer step: the strategy's own, or the backward pass of `batch`."""
        if self.task.step is not None:
            loss, tokens = self.task.step(state)
        else:
            start_step(state)
            batch = to_device(batch, self.env.device)
            if self.task.backward is not None:
                loss = self.task.backward(self.model, batch)
            else:
                with autocast(self.env.device, self.env.precision):
                    out = self.task.loss(self.model, batch)
                out.backward()
                loss = out.item()
            tokens = n_tokens(batch)
            finish_step(state, self.tp.grad_clip, tokens)
        self.res.steps += 1
        self.res.train_tokens += tokens
        self.window.append(loss)
        self.since_valid.append(loss)
        if self.res.steps % self.tp.log_every == 0:
            self.env.live.step = self.res.steps
            self.env.live.log_metric("train/loss", sum(self.window) / len(self.window))
            # The rate of the next step, as torch's LambdaLR reports after its step().
            self.env.live.log_metric("train/lr", state.schedule(state.step))
            self.window = []

    def validate(self, epoch: int) -> bool:
        """One valid pass; keeps the best weights; True when patience has run out."""
        val = self.task.validate(self.model)
        train_loss = sum(self.since_valid) / max(1, len(self.since_valid))
        self.since_valid = []
        self.valid_step = self.res.steps
        self.res.history.append(
            {"epoch": epoch, "step": self.res.steps, "train_loss": train_loss}
            | {f"valid_{k}": v for k, v in val.items()}
        )
        self.env.live.step = self.res.steps
        for k, v in val.items():
            self.env.live.log_metric(f"valid/{k}", v)
        self.env.live.log_metric("epoch", epoch)
        score = val[self.task.metric]
        if not math.isfinite(score):
            raise PipelineError(
                f"valid {self.task.metric} is {score} at step {self.res.steps}: training diverged; "
                "lower the task's lr in params.yaml (and keep grad_clip on)"
            )
        log.info(
            "epoch %d, step %d: train loss %.4f, %s",
            *(epoch, self.res.steps, train_loss, ", ".join(f"valid {k} {v:.4f}" for k, v in val.items())),
        )
        best = self.res.best_valid
        better = math.isnan(best) or (score > best if self.task.higher_is_better else score < best)
        if better:
            self.res.best_valid, self.res.best_epoch, self.res.best_step = score, epoch, self.res.steps
            self.stale = 0
            self.best_state = cpu_copy(self.model)
            return False
        self.stale += 1
        return self.stale >= self.tp.patience


def fit(
    model,
    task: Strategy,
    tp: TrainParams,
    env: TrainEnv,
    max_steps: int = 0,
    eval_every: int = 0,
    initial: float | None = None,
) -> FitResult:
    """Train for up to `tp.epochs` (and at most `max_steps` steps when > 0), validate once per
    epoch or every `eval_every` steps, stop after `tp.patience` passes without a better valid
    score, and leave the best pass's weights in `model`. `initial` is the valid score of the
    starting weights (a pretrained LM has one): they stay the best until a pass beats them."""
    planned = task.n_batches * tp.epochs
    if max_steps > 0:
        planned = min(planned, max_steps)
    run = _Run(model, task, tp, env, FitResult())
    if initial is not None:
        run.res.best_valid = initial
        run.best_state = cpu_copy(model)
    model.to(env.device)
    model.train()
    state = TrainState(
        model,
        make_optimizer(model, tp.lr, tp.weight_decay, task.betas, task.fused),
        linear_schedule(tp.lr, planned, tp.warmup_ratio),
        batches=task.batches,
    )
    rng = random.Random(env.seed)
    start, stop = time.perf_counter(), False
    while run.res.epochs_run < tp.epochs and run.res.steps < planned and not stop:
        epoch = run.res.epochs_run + 1
        n = min(task.n_batches, planned - run.res.steps)
        batches = task.train_batches(rng) if task.step is None else (None for _ in range(n))
        for batch in progress(batches, f"epoch {epoch}", "batches", total=n):
            run.step(state, batch)
            at_end = run.res.steps >= planned
            if eval_every and run.res.steps % eval_every == 0 and not at_end:
                stop = run.validate(epoch)
            if stop or at_end:
                break
        run.res.epochs_run = epoch
        if not stop and run.valid_step != run.res.steps:
            stop = run.validate(epoch)
    run.res.stopped_early = stop and run.res.steps < planned
    if run.res.stopped_early:
        log.info("no better valid %s for %d pass(es): stopped early", task.metric, run.stale)
    run.res.train_time_s = time.perf_counter() - start
    model.load_state_dict(run.best_state)
    return run.res

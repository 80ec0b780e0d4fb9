"""pretrain's loop: the steps of stages/common/lm_train.py, evals, logs and checkpoint calls.

One optimizer step = grad_accum micro-batches of batch_size windows (AdamW, warmup + cosine,
clipping; see lm_train.train_step); with several processes gradients are reduced on the
last micro-batch only (parallel.no_sync). Every step logs train loss, lr, tokens/s and MFU to
dvclive; every eval_every steps (and at the end) the loss on a fixed, seeded set of
validation windows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stages.common.lm_train import Batches, StepSettings, compute_loss, train_step
from stages.common.optim import TrainState, autocast
from stages.pretrain.config import PretrainParams
from stages.pretrain.parallel import World, mean, no_sync

log = logging.getLogger(__name__)


def check_epochs(total_steps: int, tokens_per_step: int, train_tokens: int, warn_epochs: float) -> None:
    """Warn, naming both numbers and the fix, when the budget makes more than `warn_epochs` epochs
    over the training tokens (a model that sees the same text that often memorises it)."""
    budget = total_steps * tokens_per_step
    epochs = budget / max(train_tokens, 1)
    if epochs > warn_epochs:
        fit = int(warn_epochs * train_tokens)
        log.warning(
            "pretrain: the budget of %d steps x %s tokens = %s tokens is %.1f epochs over the %s training "
            "tokens of data/tokens, more than train.warn_epochs (%g). Add text (collect.limits: the gpu "
            "profile's fineweb_edu source), or lower train.max_tokens to %s or max_steps to %d",
            *(total_steps, f"{tokens_per_step:,}", f"{budget:,}", epochs, f"{train_tokens:,}", warn_epochs),
            *(f"{fit:,}", max(1, fit // tokens_per_step)),
        )


def evaluate(model, run: Run) -> float:
    """Mean loss on the same eval_batches seeded windows every time, so evals are comparable."""
    import torch

    t, how, valid = run.cfg.train, run.how, run.valid
    fixed = Batches(
        valid.tokens,
        np.random.default_rng(run.seed + 1),
        torch.Generator().manual_seed(run.seed + 1),
        valid.objective,
        rank=valid.rank,
        ranks=valid.ranks,
    )
    model.eval()
    total = 0.0
    with torch.no_grad(), autocast(how.device, how.precision):
        for _ in range(t.eval_batches):
            x, y = fixed.next(t.batch_size, how.device)
            total += float(compute_loss(model, x, y, valid.objective))
    model.train()
    return mean(total / t.eval_batches, run.world)


@dataclass
class History:
    """What the loop measured; the stage's metrics come from here."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    tokens_seen: int = 0


@dataclass
class Run:
    """Everything the loop needs besides the TrainState."""

    cfg: PretrainParams
    how: StepSettings
    valid: Batches
    world: World
    seed: int
    total_steps: int
    flops_per_token: float
    peak_flops: float  # of one device
    live: Any = None  # dvclive.Live, or None in tests
    on_step: Callable[[TrainState], None] | None = None  # after each step (checkpoints), or None


def train(state: TrainState, run: Run, forward=None) -> History:
    """Run steps state.step..total_steps-1, logging and evaluating as the params say.

    `forward` is what the steps and evals call instead of state.model (torch.compile's wrapper)."""
    import torch

    from stages.common.runtime import progress

    t = run.cfg.train
    hist = History()
    world = run.world
    model = forward if forward is not None else state.model
    unsynced = no_sync(state.model, world)  # the DDP/FSDP module, also when `forward` compiles it
    model.train()
    for step in progress(
        range(state.step, run.total_steps), "pretrain", "step", initial=state.step, total=run.total_steps
    ):
        t0, seen = time.perf_counter(), state.tokens_seen
        loss = mean(train_step(state, run.how, model, unsynced), world)
        if run.how.device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        tokens = state.tokens_seen - seen
        hist.train_loss.append(loss)
        hist.step_seconds.append(dt)
        hist.tokens_seen += tokens
        tok_s = tokens / dt
        mfu = tok_s * run.flops_per_token / (run.peak_flops * world.size)
        last = step + 1 == run.total_steps
        val = None
        if (step + 1) % t.eval_every == 0 or last:
            val = evaluate(model, run)
            hist.val_loss.append((step + 1, val))
        lr = state.optimizer.param_groups[0]["lr"]
        if run.live is not None:
            _log_live(run.live, step, loss, lr, tok_s, mfu, val)
        if (step + 1) % t.log_every == 0 or last:
            extra = f" val {val:.4f}" if val is not None else ""
            log.info(
                "step %d/%d loss %.4f%s lr %.2e %.0f tok/s mfu %.1f%%",
                *(step + 1, run.total_steps, loss, extra, lr, tok_s, 100 * mfu),
            )
        if run.on_step is not None:
            run.on_step(state)
    return hist


def _log_live(live, step: int, loss: float, lr: float, tok_s: float, mfu: float, val: float | None) -> None:
    # Each log_metric appends a row to its .tsv at `live.step`, which is all dvc plots needs.
    # next_step()/end() are not called: they rebuild dvclive's summary and studio payload,
    # which the stage does not keep (its summary is metrics/pretrain.json).
    live.step = step + 1  # x axis = optimizer steps done, also after a resume
    live.log_metric("train/loss", loss)
    live.log_metric("train/lr", lr)
    live.log_metric("perf/tokens_per_s", tok_s)
    live.log_metric("perf/mfu", mfu)
    if val is not None:
        live.log_metric("val/loss", val)

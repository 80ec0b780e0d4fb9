"""The training loop in plain torch: AdamW, warmup + cosine, clipping, accumulation, evals.

One optimizer step = grad_accum micro-batches of batch_size windows. Every step logs
train loss, lr, tokens/s and MFU to dvclive; every eval_every steps (and at the end) the
loss on a fixed, seeded set of validation windows.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stages.pretrain.config import ModelParams, PretrainParams, TrainParams
from stages.pretrain.data import mask_tokens, sample_windows
from stages.pretrain.parallel import World, mean

log = logging.getLogger(__name__)


def lr_at(step: int, total: int, t: TrainParams) -> float:
    """Linear warmup to lr over warmup_steps, then cosine decay to min_lr at the last step."""
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    span = max(1, total - t.warmup_steps - 1)
    progress = min(1.0, (step - t.warmup_steps) / span)
    return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model, t: TrainParams, device: str):
    """AdamW with no weight decay on norms and biases; the fused kernel (one vectorised pass over
    each tensor instead of six elementwise ops) on the CPU and on CUDA alike."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=t.lr, betas=(0.9, 0.95), fused=device in ("cpu", "cuda"))


@dataclass
class Batches:
    """Seeded sources of training batches; their state is what a checkpoint saves.

    With several processes every rank draws the same global batch of batch_size x world
    rows from the same generators and keeps its own slice, so the generators stay equal
    on all ranks and the run matches one process with the same global batch.

    With `prefetch` (on CUDA), `next` draws the following batch as soon as it hands one
    out and starts its copy to the device, so the host's share of the next batch
    (reading windows, masking, pinning) runs while the GPU computes on this one. The
    batches are the same as without it, and `rng_state` leaves out the one drawn ahead.
    """

    tokens: np.memmap
    rng: np.random.Generator
    mask_gen: Any  # torch.Generator for mlm masking
    m: ModelParams
    meta: dict[str, Any]
    world: World = World()
    prefetch: bool = False
    _ahead: tuple | None = field(default=None, init=False, repr=False)  # (key, batch, state before it)

    def next(self, batch_size: int, device: str) -> tuple[Any, Any]:
        key = (batch_size, device)
        if self._ahead is None:
            batch = self._draw(batch_size, device)
        else:
            ahead_key, batch, _ = self._ahead
            if ahead_key != key:  # a programming error: the generators are already past that batch
                raise RuntimeError(f"Batches.next{key}: the batch drawn ahead was for {ahead_key}")
            self._ahead = None
        if self.prefetch:
            before = self.rng_state()
            self._ahead = (key, self._draw(batch_size, device), before)
        return batch

    def _draw(self, batch_size: int, device: str) -> tuple[Any, Any]:
        window = sample_windows(self.tokens, self.rng, batch_size * self.world.size, self.m.context_length)
        x, y = make_batch(window, self)
        rows = slice(self.world.rank * batch_size, (self.world.rank + 1) * batch_size)
        x, y = x[rows], y[rows]
        if device == "cuda":  # page-locked memory lets the copy run without holding up the host
            x, y = x.pin_memory(), y.pin_memory()
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def rng_state(self) -> dict[str, Any]:
        """The generators as of the batches handed out so far (what a checkpoint saves)."""
        if self._ahead is not None:
            return self._ahead[2]
        return {"numpy": self.rng.bit_generator.state, "mask_gen": self.mask_gen.get_state()}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._ahead = None
        self.rng.bit_generator.state = state["numpy"]
        self.mask_gen.set_state(state["mask_gen"])


def make_batch(window, src: Batches) -> tuple[Any, Any]:
    """(input_ids, targets) for the objective: shifted for clm, masked for mlm."""
    if src.m.objective == "clm":
        x, y = window[:, :-1], window[:, 1:]
    else:
        eos, pad = src.meta["eos_id"], src.meta["pad_id"]
        x, y = mask_tokens(
            window[:, :-1],
            src.mask_gen,
            src.meta["mask_id"],
            src.meta["vocab_size"],
            src.m.mask_prob,
            (eos, pad),
        )
    return x, y


def compute_loss(model, x, y, m: ModelParams):
    """Mean cross-entropy over predicted positions, plus the weighted MoE balance loss."""
    import torch.nn.functional as F

    kwargs = {"use_cache": False} if m.objective == "clm" else {}
    out = model(input_ids=x, **kwargs)
    logits = out.logits
    loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1), ignore_index=-100)
    aux = getattr(out, "aux_loss", None)
    if m.moe.n_experts > 0 and aux is not None:
        # transformers returns the balance loss unscaled; the weight is ours.
        loss = loss + m.moe.aux_loss_weight * aux
    return loss


def autocast(device: str, precision: str):
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(model, valid: Batches, cfg: PretrainParams, device: str, precision: str, seed: int) -> float:
    """Mean loss on the same eval_batches seeded windows every time, so evals are comparable."""
    import torch

    fixed = Batches(
        valid.tokens,
        np.random.default_rng(seed + 1),
        torch.Generator().manual_seed(seed + 1),
        valid.m,
        valid.meta,
        valid.world,
    )
    model.eval()
    total = 0.0
    with torch.no_grad(), autocast(device, precision):
        for _ in range(cfg.train.eval_batches):
            x, y = fixed.next(cfg.train.batch_size, device)
            total += float(compute_loss(model, x, y, cfg.model))
    model.train()
    return mean(total / cfg.train.eval_batches, valid.world)


@dataclass
class History:
    """What the loop measured; the stage's metrics come from here."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    tokens_seen: int = 0


@dataclass
class Run:
    """Everything the loop needs besides the model and optimizer."""

    cfg: PretrainParams
    train: Batches
    valid: Batches
    device: str
    precision: str
    seed: int
    total_steps: int
    flops_per_token: float
    peak_flops: float
    live: Any = None  # dvclive.Live, or None in tests
    on_step: Any = None  # callable(step_done) for checkpoints, or None


def train_step(model, opt, run: Run, step: int) -> float:
    """One optimizer step over grad_accum micro-batches; returns the mean micro-batch loss."""
    import torch

    t = run.cfg.train
    lr = lr_at(step, run.total_steps, t)
    for g in opt.param_groups:
        g["lr"] = lr
    total = torch.zeros((), dtype=torch.float64, device=run.device)
    for _ in range(t.grad_accum):
        x, y = run.train.next(t.batch_size, run.device)
        with autocast(run.device, run.precision):
            loss = compute_loss(model, x, y, run.cfg.model)
        (loss / t.grad_accum).backward()
        # Summed on the device: reading it each micro-batch would make the host wait for the GPU.
        total += loss.detach()
    if t.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(total) / t.grad_accum


def train(model, opt, run: Run, start_step: int = 0, history: History | None = None) -> History:
    """Run steps start_step..total_steps-1, logging and evaluating as the params say."""
    import torch

    from stages.common.runtime import progress

    t = run.cfg.train
    hist = history or History()
    world = run.train.world
    tokens_per_step = t.batch_size * t.grad_accum * run.cfg.model.context_length * world.size
    model.train()
    for step in progress(
        range(start_step, run.total_steps), "pretrain", "step", initial=start_step, total=run.total_steps
    ):
        t0 = time.perf_counter()
        loss = mean(train_step(model, opt, run, step), world)
        if run.device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        hist.train_loss.append(loss)
        hist.step_seconds.append(dt)
        hist.tokens_seen += tokens_per_step
        tok_s = tokens_per_step / dt
        mfu = tok_s * run.flops_per_token / (run.peak_flops * world.size)
        last = step + 1 == run.total_steps
        val = None
        if (step + 1) % t.eval_every == 0 or last:
            val = evaluate(model, run.valid, run.cfg, run.device, run.precision, run.seed)
            hist.val_loss.append((step + 1, val))
        if run.live is not None:
            _log_live(run.live, step, loss, opt.param_groups[0]["lr"], tok_s, mfu, val)
        if (step + 1) % t.log_every == 0 or last:
            extra = f" val {val:.4f}" if val is not None else ""
            log.info(
                "step %d/%d loss %.4f%s lr %.2e %.0f tok/s mfu %.1f%%",
                step + 1,
                run.total_steps,
                loss,
                extra,
                opt.param_groups[0]["lr"],
                tok_s,
                100 * mfu,
            )
        if run.on_step is not None:
            run.on_step(step + 1, hist)
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

"""A plain torch training loop for sequence classification, with early stopping.

Plain torch rather than the HF Trainer: on a 2-core CPU it starts faster, and every knob
is a param we can read here. AdamW (decay on matrices only), linear warmup then linear
decay, optional bf16 autocast, gradient clipping, one valid pass per epoch; the best
epoch's weights (by valid accuracy) are kept and restored at the end.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from stages.common.runtime import progress
from stages.finetune.config import FinetuneParams
from stages.finetune.data import Encoded, batches

log = logging.getLogger(__name__)


@dataclass
class TrainEnv:
    """Where and how to train: device, bf16 autocast, the pad id, the seed, a dvclive Live."""

    device: str
    bf16: bool
    pad_id: int
    seed: int
    live: Any


@dataclass
class FitResult:
    best_accuracy: float = -1.0
    best_epoch: int = 0
    epochs_run: int = 0
    steps: int = 0
    stopped_early: bool = False
    train_time_s: float = 0.0
    train_tokens: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def make_optimizer(model, cfg: FinetuneParams):
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    # Decay weight matrices only: decaying biases and norm gains only hurts.
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_schedule(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warmup over `warmup_ratio` of all planned steps, then linear decay to 0."""
    import torch

    warmup = math.ceil(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _autocast(device: str, bf16: bool):
    import torch

    return torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def evaluate(model, data: Encoded, batch_size: int, pad_id: int, device: str, bf16: bool) -> dict[str, float]:
    """Mean cross-entropy and accuracy on `data`."""
    import torch
    import torch.nn.functional as F

    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for batch in batches(data, batch_size, pad_id, rng=None):
            batch = {k: v.to(device) for k, v in batch.items()}
            with _autocast(device, bf16):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss_sum += F.cross_entropy(logits.float(), batch["labels"], reduction="sum").item()
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
    n = len(data.labels)
    return {"loss": loss_sum / n, "accuracy": correct / n}


def train_epoch(
    model, data: Encoded, opt, sched, cfg: FinetuneParams, env: TrainEnv, res: FitResult, rng
) -> float:
    """One shuffled pass over `data`; returns the mean train loss and logs curve points."""
    import torch
    import torch.nn.functional as F

    model.train()
    total, window = 0.0, []
    n_batches = math.ceil(len(data.ids) / cfg.batch_size)
    desc = f"epoch {res.epochs_run + 1}"
    for batch in progress(batches(data, cfg.batch_size, env.pad_id, rng), desc, "batches", total=n_batches):
        batch = {k: v.to(env.device) for k, v in batch.items()}
        with _autocast(env.device, env.bf16):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        # The loss in fp32 even under autocast: bf16 log-softmax loses the small differences.
        loss = F.cross_entropy(logits.float(), batch["labels"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        res.steps += 1
        res.train_tokens += int(batch["attention_mask"].sum())
        total += loss.item()
        window.append(loss.item())
        if res.steps % cfg.log_every == 0:
            env.live.step = res.steps
            env.live.log_metric("train/loss", sum(window) / len(window))
            env.live.log_metric("train/lr", sched.get_last_lr()[0])
            window = []
    return total / n_batches


def fit(model, train: Encoded, valid: Encoded, cfg: FinetuneParams, env: TrainEnv) -> FitResult:
    """Train for up to `cfg.epochs`, stop after `cfg.patience` epochs without a better valid
    accuracy, and leave the best epoch's weights in `model`."""
    res = FitResult()
    model.to(env.device)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, math.ceil(len(train.ids) / cfg.batch_size) * cfg.epochs, cfg.warmup_ratio)
    rng = random.Random(env.seed)
    best_state, stale, start = None, 0, time.perf_counter()
    while res.epochs_run < cfg.epochs:
        train_loss = train_epoch(model, train, opt, sched, cfg, env, res, rng)
        val = evaluate(model, valid, cfg.batch_size, env.pad_id, env.device, env.bf16)
        res.epochs_run += 1
        res.history.append(
            {"epoch": res.epochs_run, "train_loss": train_loss} | {f"valid_{k}": v for k, v in val.items()}
        )
        env.live.step = res.steps
        for k, v in {
            "valid/accuracy": val["accuracy"],
            "valid/loss": val["loss"],
            "epoch": res.epochs_run,
        }.items():
            env.live.log_metric(k, v)
        log.info(
            "epoch %d: train loss %.4f, valid loss %.4f, valid accuracy %.4f",
            *(res.epochs_run, train_loss, val["loss"], val["accuracy"]),
        )
        if val["accuracy"] > res.best_accuracy:
            res.best_accuracy, res.best_epoch, stale = val["accuracy"], res.epochs_run, 0
            # Copied out: the live tensors keep changing as training goes on.
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= cfg.patience and res.epochs_run < cfg.epochs:
                res.stopped_early = True
                log.info("no better valid accuracy for %d epoch(s): stopping early", stale)
                break
    res.train_time_s = time.perf_counter() - start
    model.load_state_dict(best_state)
    return res

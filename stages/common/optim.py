"""The optimizer, learning-rate schedules and precision of every training loop, and the state they move.

pretrain and every finetune task build their AdamW here, take their learning rate from a
schedule here and run their forward passes under `autocast` here. A `TrainState` holds
what one optimizer step changes: the model, the optimizer, the schedule, the step count
and the generators its batches come from (what a checkpoint must save to resume).

One step is `start_step` (set the step's learning rate), the backward passes of the step's
batches, then `finish_step` (clip, update, clear the gradients, count).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# AdamW's betas. Pre-training (and continued pre-training) takes the LLM convention of
# beta2 = 0.95 (GPT-3, Llama, nanoGPT): a shorter second-moment memory that stays stable
# through the large, noisy early updates. Fine-tuning starts from trained weights with
# small updates, and keeps torch's default 0.999.
PRETRAIN_BETAS = (0.9, 0.95)
FINETUNE_BETAS = (0.9, 0.999)

Schedule = Callable[[int], float]  # optimizer step (from 0) -> learning rate


def make_optimizer(model, lr: float, weight_decay: float, betas: tuple[float, float], fused: bool | None):
    """AdamW that decays weight matrices only: decaying biases and norm gains only hurts.

    `fused` True runs one vectorised kernel over each tensor instead of six elementwise ops
    (CPU and CUDA); None leaves the choice to torch. The kernels round differently, so each
    loop keeps the one its numbers were measured with.
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)


def cosine_schedule(lr: float, min_lr: float, warmup_steps: int, total: int) -> Schedule:
    """Linear warmup to lr over warmup_steps, then cosine decay to min_lr at the last step."""

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        span = max(1, total - warmup_steps - 1)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))

    return lr_at


def linear_schedule(lr: float, total: int, warmup_ratio: float) -> Schedule:
    """Linear warmup over `warmup_ratio` of the `total` planned steps, then linear decay to 0."""
    warmup = math.ceil(total * warmup_ratio)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * ((step + 1) / warmup)
        return lr * max(0.0, (total - step) / max(1, total - warmup))

    return lr_at


def autocast(device: str, precision: str):
    """bf16 autocast for `precision` "bf16" (see runtime.pick_precision), else nothing."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class TrainState:
    """What an optimizer step changes, and so what a checkpoint saves and a resume restores.

    `batches` is the seeded source of training batches (an object with `rng_state()` and
    `set_rng_state()`), or None where the loop feeds batches itself; `tokens_seen` counts
    the training tokens of every step so far, across resumes.
    """

    model: Any
    optimizer: Any
    schedule: Schedule
    batches: Any = None
    step: int = 0
    tokens_seen: int = 0

    def generators(self) -> dict[str, Any]:
        """The state of every generator a step draws from: the batches' and torch's (dropout)."""
        import torch

        own = self.batches.rng_state() if self.batches is not None else {}
        return {**own, "torch": torch.get_rng_state()}

    def set_generators(self, state: dict[str, Any]) -> None:
        import torch

        torch.set_rng_state(state["torch"])
        if self.batches is not None:
            self.batches.set_rng_state({k: v for k, v in state.items() if k != "torch"})


def start_step(state: TrainState) -> float:
    """Set the learning rate of step `state.step` on every parameter group; returns it."""
    lr = state.schedule(state.step)
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    return lr


def finish_step(state: TrainState, grad_clip: float, tokens: int) -> None:
    """Clip the gradients (when grad_clip > 0), update, clear the gradients, count the step."""
    import torch

    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip)
    state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    state.step += 1
    state.tokens_seen += tokens

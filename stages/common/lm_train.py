"""Language-model training on a token stream: seeded windows, masking, the loss and the step.

pretrain trains on data/tokens with it, and finetune's domain task continues pre-training
on the domain texts with the same step: windows of context_length + 1 tokens at seeded
random offsets of one flat stream (documents joined by eos), shifted for a causal model
and BERT-masked for a masked one, cross-entropy plus the weighted MoE balance loss, and
grad_accum micro-batches per optimizer step.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stages.common.optim import TrainState, autocast, finish_step, start_step


@dataclass(frozen=True)
class LmObjective:
    """What a window trains the model to predict.

    clm: each next token. mlm: a seeded `mask_prob` of the tokens (never `special_ids`),
    80% of them shown as `mask_id`, 10% as a random id below `vocab_size`, 10% as
    themselves. `aux_loss_weight` scales a MoE model's balance loss (0: not added).
    """

    kind: Literal["clm", "mlm"]
    context_length: int
    mask_id: int | None = None
    vocab_size: int = 0
    mask_prob: float = 0.0
    special_ids: tuple[int, ...] = ()
    aux_loss_weight: float = 0.0


@dataclass(frozen=True)
class StepSettings:
    """How one optimizer step runs: grad_accum micro-batches of batch_size windows."""

    batch_size: int
    grad_accum: int
    grad_clip: float  # 0 = off
    device: str
    precision: str  # "bf16" | "fp32" (runtime.pick_precision)


def sample_windows(tokens: np.ndarray, rng: np.random.Generator, batch_size: int, context_length: int):
    """A LongTensor [batch_size, context_length + 1] of windows at seeded random offsets."""
    import torch

    starts = rng.integers(0, tokens.size - context_length - 1, size=batch_size)
    rows = np.stack([np.asarray(tokens[s : s + context_length + 1], dtype=np.int64) for s in starts])
    return torch.from_numpy(rows)


def mask_tokens(window, gen, mask_id: int, vocab_size: int, mask_prob: float, special_ids: tuple[int, ...]):
    """BERT-style masking of `window` [B, T]: returns (input_ids, labels with -100 where not predicted)."""
    import torch

    inputs = window.clone()
    labels = window.clone()
    chosen = torch.rand(window.shape, generator=gen) < mask_prob
    for sid in special_ids:  # separators are structure, not something to predict
        chosen &= window != sid
    labels[~chosen] = -100
    roll = torch.rand(window.shape, generator=gen)
    inputs[chosen & (roll < 0.8)] = mask_id
    randomize = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[randomize] = torch.randint(0, vocab_size, window.shape, generator=gen)[randomize]
    return inputs, labels


def make_batch(window, objective: LmObjective, mask_gen) -> tuple[Any, Any]:
    """(input_ids, targets) of windows [B, context_length + 1]: shifted for clm, masked for mlm."""
    if objective.kind == "clm":
        return window[:, :-1], window[:, 1:]
    o = objective
    return mask_tokens(window[:, :-1], mask_gen, o.mask_id, o.vocab_size, o.mask_prob, o.special_ids)


@dataclass
class Batches:
    """Seeded sources of training batches; their generators are part of the TrainState.

    With several processes every rank draws the same global batch of batch_size x ranks
    rows from the same generators and keeps its own slice, so the generators stay equal
    on all ranks and the run matches one process with the same global batch.

    With `prefetch` (on CUDA), `next` draws the following batch as soon as it hands one
    out and starts its copy to the device, so the host's share of the next batch
    (reading windows, masking, pinning) runs while the GPU computes on this one. The
    batches are the same as without it, and `rng_state` leaves out the one drawn ahead.
    """

    tokens: np.ndarray
    rng: np.random.Generator
    mask_gen: Any  # torch.Generator for mlm masking
    objective: LmObjective
    rank: int = 0
    ranks: int = 1
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
        window = sample_windows(self.tokens, self.rng, batch_size * self.ranks, self.objective.context_length)
        x, y = make_batch(window, self.objective, self.mask_gen)
        rows = slice(self.rank * batch_size, (self.rank + 1) * batch_size)
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


def compute_loss(model, x, y, objective: LmObjective):
    """Mean cross-entropy over predicted positions, plus the weighted MoE balance loss."""
    import torch.nn.functional as F

    kwargs = {"use_cache": False} if objective.kind == "clm" else {}
    out = model(input_ids=x, **kwargs)
    logits = out.logits
    loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1), ignore_index=-100)
    aux = getattr(out, "aux_loss", None)
    if objective.aux_loss_weight and aux is not None:
        # transformers returns the balance loss unscaled; the weight is ours.
        loss = loss + objective.aux_loss_weight * aux
    return loss


def train_step(state: TrainState, how: StepSettings, forward=None, no_sync=None) -> float:
    """One optimizer step over grad_accum micro-batches from `state.batches`; returns the mean
    micro-batch loss. `forward` is what to call instead of `state.model` (torch.compile's
    wrapper of it), so that the state keeps the module whose weights a checkpoint saves.
    `no_sync()`, when given, is a context that the micro-steps before the last run in, so that
    gradients are reduced across processes once per step (pretrain's parallel.no_sync)."""
    import torch

    forward = forward if forward is not None else state.model
    batches: Batches = state.batches
    start_step(state)
    total = torch.zeros((), dtype=torch.float64, device=how.device)
    for i in range(how.grad_accum):
        x, y = batches.next(how.batch_size, how.device)
        last = i == how.grad_accum - 1
        with no_sync() if no_sync is not None and not last else nullcontext():
            with autocast(how.device, how.precision):
                loss = compute_loss(forward, x, y, batches.objective)
            (loss / how.grad_accum).backward()
        # Summed on the device: reading it each micro-batch would make the host wait for the GPU.
        total += loss.detach()
    tokens = how.batch_size * how.grad_accum * batches.objective.context_length * batches.ranks
    finish_step(state, how.grad_clip, tokens)
    return float(total) / how.grad_accum

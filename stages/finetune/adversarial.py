"""Adversarial fine-tuning of a sequence classifier: attacked examples plus embedding-space
adversarial training, on the same budget as plain classify.

The data (data/tasks/adversarial/) is classify's train split plus attacked copies of part
of it; valid is classify's valid. Training uses the classify section's TrainParams (same
epochs, lr, batch size), so any difference from models/finetune/classify comes from the
method, not a larger budget; metrics record the forward/backward passes it cost. With
`finetune.classify.adapt_steps` above 0 its backbone is first adapted on its own train texts,
the attacked copies among them, as classify's is (stages/finetune/adapt.py).

Per batch, a perturbation `delta` of the input embeddings (zero on padding) starts uniform
in [-1, 1], scaled by init_mag / sqrt(tokens * hidden) (FreeLB), and takes `adv_steps`
ascent steps of size adv_lr along its L2-normalised gradient, projected back into the L2
ball of radius adv_eps per example. The model sees `inputs_embeds = embeds + delta`.
- freelb (Zhu et al. 2020): the parameter gradients of all K steps are averaged ("free"
  adversarial training: the ascent passes also train).
- pgd (Madry et al. 2018): the ascent steps move delta only; the update is the gradient of
  the clean loss plus the loss at the last step's delta.

Decoder classifiers pool the last position and cannot find padding in `inputs_embeds`, so
batches are padded on the left here; the saved model reads right-padded input_ids as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stages.common.optim import autocast
from stages.finetune import paths
from stages.finetune.classify import classification_loss, train_classifier
from stages.finetune.config import AdversarialParams, FinetuneParams
from stages.finetune.data import read_columns
from stages.finetune.session import save
from stages.finetune.train import TrainEnv

log = logging.getLogger(__name__)


def init_delta(embeds, mask, init_mag: float):
    """FreeLB's start: uniform in [-1, 1] on real tokens, scaled by init_mag / sqrt(tokens * hidden)."""
    import torch

    m = mask.unsqueeze(-1).to(embeds.dtype)
    delta = (torch.rand_like(embeds) * 2 - 1) * m
    dims = mask.sum(1).to(embeds.dtype).clamp_min(1) * embeds.size(-1)
    return delta * (init_mag / dims.sqrt()).view(-1, 1, 1)


def project(delta, eps: float):
    """`delta` with each example's L2 norm clipped to `eps`."""
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (eps / norms).clamp(max=1.0).view(-1, 1, 1)


def ascend(delta, grad, mask, adv_lr: float, eps: float):
    """One ascent step of size adv_lr along the per-example L2-normalised gradient, kept off
    padding and inside the eps ball."""
    g_norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    delta = (delta + adv_lr * grad / g_norm) * mask.unsqueeze(-1).to(delta.dtype)
    return project(delta, eps)


def _loss(model, embeds, batch: dict, env: TrainEnv):
    with autocast(env.device, env.precision):
        return classification_loss(model, batch, embeds)


def freelb_backward(model, batch: dict, adv: AdversarialParams, env: TrainEnv) -> tuple[float, Any]:
    """K passes at K deltas, each backpropagating loss / K into the parameters; returns (the
    mean adversarial loss, the last delta)."""
    emb, mask = model.get_input_embeddings(), batch["attention_mask"]
    delta = project(init_delta(emb(batch["input_ids"]).detach(), mask, adv.init_mag), adv.adv_eps)
    total = 0.0
    for k in range(adv.adv_steps):
        delta.requires_grad_()
        # Looked up again each pass: the previous backward freed its graph.
        loss = _loss(model, emb(batch["input_ids"]) + delta, batch, env) / adv.adv_steps
        loss.backward()
        total += loss.item()
        if k < adv.adv_steps - 1:
            delta = ascend(delta.detach(), delta.grad, mask, adv.adv_lr, adv.adv_eps)
    return total, delta.detach()


def pgd_backward(model, batch: dict, adv: AdversarialParams, env: TrainEnv) -> tuple[float, Any]:
    """Clean loss, K ascent steps on delta alone, then the loss at the final delta; both losses
    are backpropagated. Returns (clean + adversarial loss, the final delta)."""
    import torch

    emb, mask = model.get_input_embeddings(), batch["attention_mask"]
    clean = _loss(model, emb(batch["input_ids"]), batch, env)
    clean.backward()
    fixed = emb(batch["input_ids"]).detach()
    delta = project(init_delta(fixed, mask, adv.init_mag), adv.adv_eps)
    for _ in range(adv.adv_steps):
        delta.requires_grad_()
        (grad,) = torch.autograd.grad(_loss(model, fixed + delta, batch, env), delta)
        delta = ascend(delta.detach(), grad, mask, adv.adv_lr, adv.adv_eps)
    loss = _loss(model, emb(batch["input_ids"]) + delta, batch, env)
    loss.backward()
    return clean.item() + loss.item(), delta


METHODS: dict[str, Callable[..., tuple[float, Any]]] = {"freelb": freelb_backward, "pgd": pgd_backward}


def passes_per_step(adv: AdversarialParams) -> int:
    """Forward+backward passes per batch (plain fine-tuning: 1)."""
    return adv.adv_steps if adv.method == "freelb" else adv.adv_steps + 2


def run(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    pretrain_dir: Path = paths.PRETRAIN_DIR,
    tasks_dir: Path = paths.TASKS_DIR,
) -> dict[str, Any]:
    """Adversarially fine-tune on `tasks_dir/<task>` with the classify budget; save; return metrics."""
    adv: AdversarialParams = cfg.adversarial
    method = METHODS[adv.method]
    norms: list[float] = []

    def make_backward(env: TrainEnv) -> Callable[[Any, dict], float]:
        def backward(model, batch: dict) -> float:
            loss, delta = method(model, batch, adv, env)
            norms.append(delta.flatten(1).norm(dim=1).mean().item())
            return loss

        return backward

    kinds = read_columns(tasks_dir / task, "train", ("perturbation",))["perturbation"]
    metrics, model, tok = train_classifier(
        task, cfg, seed, pretrain_dir, tasks_dir, make_backward, pad_left=True
    )
    metrics |= {
        "method": adv.method,
        "adv_steps": adv.adv_steps,
        "adv_lr": adv.adv_lr,
        "adv_eps": adv.adv_eps,
        "init_mag": adv.init_mag,
        "attacked_train_examples": sum(bool(k) for k in kinds),
        "passes_per_step": passes_per_step(adv),
        "forward_backward_passes": metrics["steps"] * passes_per_step(adv),
        "mean_delta_norm": round(sum(norms) / max(1, len(norms)), 4),
        "budget": "finetune.classify",  # the TrainParams it trained with
    }
    log.info(
        "%s: %s, %d passes per step, mean |delta| %.3f",
        task,
        adv.method,
        passes_per_step(adv),
        metrics["mean_delta_norm"],
    )
    save(task, model, tok, metrics)
    return metrics

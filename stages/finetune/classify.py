"""Fine-tune models/pretrain as a sequence classifier on data/tasks/<task>/.

Saves the best epoch's model and the tokenizer to models/finetune/<task>/ (loadable with
AutoModelForSequenceClassification and AutoTokenizer), curves to
metrics/curves/finetune/<task>/, and metrics/finetune/<task>.json.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from stages.common.io import atomic_dir, write_json
from stages.common.live import open_live
from stages.common.runtime import pick_device, seed_everything
from stages.finetune import paths
from stages.finetune.config import FinetuneParams
from stages.finetune.data import encode, read_labels, read_split
from stages.finetune.model import load_classifier, load_tokenizer, pick_precision
from stages.finetune.train import FitResult, TrainEnv, fit

log = logging.getLogger(__name__)


def majority_accuracy(train_labels: list[int], valid_labels: list[int]) -> float:
    """Valid accuracy of always predicting train's most common label: the bar to beat."""
    top = Counter(train_labels).most_common(1)[0][0]
    return sum(y == top for y in valid_labels) / len(valid_labels)


def fit_length(max_length: int, config) -> int:
    """`max_length`, capped at the positions the model was built with."""
    limit = getattr(config, "max_position_embeddings", None) or max_length
    if max_length > limit:
        log.warning(
            "finetune.max_length %d exceeds the model's %d positions; using %d", max_length, limit, limit
        )
    return min(max_length, limit)


def summarize(task: str, model, enc: dict, res: FitResult, env: TrainEnv, max_length: int) -> dict[str, Any]:
    """The metrics JSON: the valid score against the majority baseline, and the cost."""
    return {
        "task": task,
        "model_type": model.config.model_type,
        "parameters": model.num_parameters(),
        "device": env.device,
        "precision": "bf16" if env.bf16 else "fp32",
        "train_examples": len(enc["train"].ids),
        "valid_examples": len(enc["valid"].ids),
        "max_length": max_length,
        "truncated": {s: e.truncated for s, e in enc.items()},
        "best_valid_accuracy": round(res.best_accuracy, 4),
        "majority_valid_accuracy": round(majority_accuracy(enc["train"].labels, enc["valid"].labels), 4),
        "best_epoch": res.best_epoch,
        "epochs_run": res.epochs_run,
        "stopped_early": res.stopped_early,
        "steps": res.steps,
        "train_time_s": round(res.train_time_s, 2),
        "train_tokens_per_s": round(res.train_tokens / max(res.train_time_s, 1e-9), 1),
        "history": [{k: round(v, 4) for k, v in h.items()} for h in res.history],
    }


def run(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    pretrain_dir: Path = paths.PRETRAIN_DIR,
    tasks_dir: Path = paths.TASKS_DIR,
) -> dict[str, Any]:
    """Fine-tune on `tasks_dir/<task>` (train, valid), save the best model, return the metrics."""
    import torch  # noqa: F401  (imported first so that seed_everything seeds it too)

    seed_everything(seed)
    task_dir = tasks_dir / task
    labels = read_labels(task_dir)
    tok = load_tokenizer(pretrain_dir)
    model = load_classifier(pretrain_dir, labels, tok.pad_token_id)
    max_length = fit_length(cfg.max_length, model.config)
    split = {s: read_split(task_dir, s, len(labels)) for s in ("train", "valid")}
    enc = {s: encode(tok, texts, ys, max_length) for s, (texts, ys) in split.items()}
    for s, e in enc.items():
        if e.truncated:
            log.info("%s: %d of %d texts truncated to %d tokens", s, e.truncated, len(e.ids), max_length)
    device = pick_device(cfg.device)
    bf16 = pick_precision(cfg.precision, device)
    kind, size = model.config.model_type, model.num_parameters() / 1e6
    log.info("%s: %s, %.2fM params, %s, %s", task, kind, size, device, "bf16" if bf16 else "fp32")
    live = open_live(paths.curves_name(task))
    env = TrainEnv(device=device, bf16=bf16, pad_id=tok.pad_token_id, seed=seed, live=live)
    try:
        res = fit(model, enc["train"], enc["valid"], cfg, env)
    finally:
        live.end()
    model.to("cpu")
    # Saved with the tokenizer, so `tokenizer(text, truncation=True)` cuts where training did.
    tok.model_max_length = max_length
    with atomic_dir(paths.MODELS_DIR / task) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    metrics = summarize(task, model, enc, res, env, max_length)
    write_json(paths.METRICS_DIR / f"{task}.json", metrics)
    return metrics

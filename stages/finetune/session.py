"""What every task does around its training: seed and device, curves, the common metrics, and
saving the model with its tokenizer atomically."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stages.common.io import atomic_dir, write_json, write_metrics
from stages.common.live import open_live
from stages.common.runtime import pick_device, pick_precision, seed_everything
from stages.finetune import paths
from stages.finetune.config import FinetuneParams
from stages.finetune.train import FitResult, TrainEnv

log = logging.getLogger(__name__)


def seeded(seed: int) -> None:
    """Seed python, numpy and torch before a model is built."""
    import torch  # noqa: F401  (imported first so that seed_everything seeds it too)

    seed_everything(seed)


@contextlib.contextmanager
def train_env(task: str, cfg: FinetuneParams, seed: int) -> Iterator[TrainEnv]:
    """Device, precision and the task's dvclive curves, closed when the block ends."""
    device = pick_device(cfg.device)
    precision = pick_precision(cfg.precision, device)
    live = open_live(paths.curves_name(task))
    try:
        yield TrainEnv(device=device, precision=precision, seed=seed, live=live)
    finally:
        live.end()


def fit_length(max_length: int, config, key: str) -> int:
    """`max_length`, capped at the positions the model was built with."""
    limit = getattr(config, "max_position_embeddings", None) or max_length
    if max_length > limit:
        log.warning("%s %d exceeds the model's %d positions; using %d", key, max_length, limit, limit)
    return min(max_length, limit)


def fit_metrics(task: str, model, env: TrainEnv, res: FitResult, metric: str) -> dict[str, Any]:
    """The fields every task's metrics JSON has: the model, the best valid score and the cost."""
    return {
        "task": task,
        "model_type": model.config.model_type,
        "parameters": model.num_parameters(),
        "device": env.device,
        "precision": env.precision,
        "best_valid": round(res.best_valid, 4),
        "valid_metric": metric,
        "best_epoch": res.best_epoch,
        "best_step": res.best_step,
        "epochs_run": res.epochs_run,
        "stopped_early": res.stopped_early,
        "steps": res.steps,
        "train_time_s": round(res.train_time_s, 2),
        "train_tokens": res.train_tokens,
        "train_tokens_per_s": round(res.train_tokens / max(res.train_time_s, 1e-9), 1),
        "history": [{k: round(v, 4) for k, v in h.items()} for h in res.history],
    }


def save(task: str, model, tokenizer, metrics: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """models/finetune/<task>/ (model, tokenizer, `extra` JSON files) then its metrics JSON."""
    model.to("cpu")
    with atomic_dir(paths.MODELS_DIR / task) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for name, obj in (extra or {}).items():
            write_json(Path(tmp) / name, obj)
    write_metrics(paths.METRICS_DIR / f"{task}.json", metrics)

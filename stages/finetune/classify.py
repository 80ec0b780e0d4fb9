"""Fine-tune models/pretrain as a sequence classifier on data/tasks/<task>/.

With `finetune.classify.adapt_steps` above 0 the backbone first continues its own
pre-training on the train texts (task-adaptive pre-training, stages/finetune/adapt.py).
Saves the best epoch's model and the tokenizer to models/finetune/<task>/ (loadable with
AutoModelForSequenceClassification and AutoTokenizer), curves to
metrics/curves/finetune/<task>/, and metrics/finetune/<task>.json. The adversarial task
reuses `train_classifier` with its own backward pass.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stages.finetune import paths
from stages.finetune.adapt import adapt
from stages.finetune.config import FinetuneParams
from stages.finetune.data import Encoded, batches, encode, read_labels, read_split
from stages.finetune.model import end_token, load_classifier, load_tokenizer
from stages.finetune.session import fit_length, fit_metrics, save, seeded, train_env
from stages.finetune.train import Strategy, TrainEnv, eval_outputs, fit

log = logging.getLogger(__name__)

# Given the training env: a replacement for loss.backward() (see train.Strategy.backward).
BackwardFactory = Callable[[TrainEnv], Callable[[Any, dict], float]]


def majority_accuracy(train_labels: list[int], valid_labels: list[int]) -> float:
    """Valid accuracy of always predicting train's most common label: the bar to beat."""
    top = Counter(train_labels).most_common(1)[0][0]
    return sum(y == top for y in valid_labels) / len(valid_labels)


def classification_loss(model, batch: dict, embeds=None):
    """Cross-entropy of the batch's labels; `embeds` replaces the input ids (adversarial training)."""
    import torch.nn.functional as F

    inputs = {"input_ids": batch["input_ids"]} if embeds is None else {"inputs_embeds": embeds}
    logits = model(**inputs, attention_mask=batch["attention_mask"]).logits
    # The loss in fp32 even under autocast: bf16 log-softmax loses the small differences.
    return F.cross_entropy(logits.float(), batch["labels"])


def classification_strategy(
    train: Encoded, valid: Encoded, batch_size: int, pad_id: int, env: TrainEnv, pad_left: bool = False
) -> Strategy:
    """Cross-entropy on one label per text; valid accuracy picks the best epoch."""
    import torch.nn.functional as F

    def validate(model) -> dict[str, float]:
        loss_sum, correct = 0.0, 0
        for batch, logits in eval_outputs(model, batches(valid, batch_size, pad_id, None, pad_left), env):
            loss_sum += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
        return {"loss": loss_sum / len(valid.ids), "accuracy": correct / len(valid.ids)}

    return Strategy(
        metric="accuracy",
        higher_is_better=True,
        n_batches=-(-len(train.ids) // batch_size),
        train_batches=lambda rng: batches(train, batch_size, pad_id, rng, pad_left),
        loss=classification_loss,
        validate=validate,
    )


def train_classifier(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    pretrain_dir: Path,
    tasks_dir: Path,
    make_backward: BackwardFactory | None = None,
    pad_left: bool = False,
) -> tuple[dict[str, Any], Any, Any]:
    """Fit a sequence classifier on `tasks_dir/<task>` with the classify section's budget;
    returns (metrics, model, tokenizer), not yet saved."""
    tp = cfg.train_params(task)
    seeded(seed)
    task_dir = tasks_dir / task
    labels = read_labels(task_dir)
    tok = load_tokenizer(pretrain_dir)
    if cfg.classify.text_boundary != "none":
        end_token(tok, start=cfg.classify.text_boundary == "both")
    model = load_classifier(task, pretrain_dir, labels, tok.pad_token_id)
    max_length = fit_length(tp.max_length, model.config, f"finetune.{task}.max_length")
    split = {s: read_split(task_dir, s, len(labels)) for s in ("train", "valid")}
    enc = {s: encode(tok, texts, ys, max_length) for s, (texts, ys) in split.items()}
    for s, e in enc.items():
        if e.truncated:
            log.info("%s: %d of %d texts truncated to %d tokens", s, e.truncated, len(e.ids), max_length)
    with train_env(task, cfg, seed) as env:
        kind, size = model.config.model_type, model.num_parameters() / 1e6
        log.info("%s: %s, %.2fM params, %s, %s", task, kind, size, env.device, env.precision)
        adapted = {"adapt_steps": 0}
        if cfg.classify.adapt_steps:
            adapted = adapt(model, pretrain_dir, tok, split["train"][0], cfg.classify, max_length, env)
        strategy = classification_strategy(
            enc["train"], enc["valid"], tp.batch_size, tok.pad_token_id, env, pad_left
        )
        if make_backward is not None:
            strategy.backward = make_backward(env)
        res = fit(model, strategy, tp, env)
    # Saved with the tokenizer, so `tokenizer(text, truncation=True)` cuts where training did.
    tok.model_max_length = max_length
    metrics = fit_metrics(task, model, env, res, "accuracy") | {
        "train_examples": len(enc["train"].ids),
        "valid_examples": len(enc["valid"].ids),
        "max_length": max_length,
        "text_boundary": cfg.classify.text_boundary,
        "truncated": {s: e.truncated for s, e in enc.items()},
        **adapted,
        "best_valid_accuracy": round(res.best_valid, 4),
        "majority_valid_accuracy": round(majority_accuracy(enc["train"].labels, enc["valid"].labels), 4),
    }
    return metrics, model, tok


def run(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    pretrain_dir: Path = paths.PRETRAIN_DIR,
    tasks_dir: Path = paths.TASKS_DIR,
) -> dict[str, Any]:
    """Fine-tune on `tasks_dir/<task>` (train, valid), save the best model, return the metrics."""
    metrics, model, tok = train_classifier(task, cfg, seed, pretrain_dir, tasks_dir)
    save(task, model, tok, metrics)
    return metrics

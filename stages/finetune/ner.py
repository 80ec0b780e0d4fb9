"""Fine-tune models/pretrain for named entities (IOB2 over PER/ORG/LOC/MISC) on data/tasks/ner/.

The task data is word-level (spaCy tokens with character offsets). Each text is tokenized
with offsets, and each word is mapped to its subword tokens: the FIRST subword carries the
word's tag, the other subwords and special tokens get -100 (no loss). Predictions are read
back at first subwords, so the valid score is entity-level F1 over words (seqeval, strict
IOB2), the same unit as the gold test set that evaluate scores.

Saves AutoModelForTokenClassification (id2label from labels.json) and the tokenizer to
models/finetune/ner/, and metrics/finetune/ner.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common.errors import DataError
from stages.common.init_from import spec_objective
from stages.common.subwords import ECHO_KEY, echo, echo_length, first_subwords
from stages.finetune import paths
from stages.finetune.config import FinetuneParams
from stages.finetune.data import Encoded, batches, read_columns, read_labels
from stages.finetune.model import load_classifier, load_tokenizer
from stages.finetune.session import fit_length, fit_metrics, save, seeded, train_env
from stages.finetune.train import Strategy, TrainEnv, eval_outputs, fit

log = logging.getLogger(__name__)

COLUMNS = ("text", "tokens", "starts", "ends", "tags")


@dataclass
class NerSplit:
    """A tokenized NER split: per-token label ids for training, and per word the token index
    of its first subword (-1 when it has none: cut by max_length, or inside the previous
    word's only subword) with the gold word tags for scoring."""

    enc: Encoded
    first: list[list[int]]
    tags: list[list[str]]
    unaligned_words: int


def check_ner_labels(path: Path, labels: list[str]) -> None:
    """labels.json must be IOB2: "O" plus B-/I- tags."""
    bad = [x for x in labels if x != "O" and not (x[:2] in ("B-", "I-") and len(x) > 2)]
    if "O" not in labels or bad:
        raise DataError(
            f"task ner: {path}: labels must be 'O' and B-X / I-X tags (IOB2); bad: {bad or ['no O']}"
        )


def check_rows(path: Path, cols: dict[str, list], label2id: dict[str, int]) -> None:
    """Every row's words match their offsets in the text, and every tag is in labels.json."""
    for i, (text, toks, starts, ends, tags) in enumerate(zip(*(cols[c] for c in COLUMNS))):
        if not (len(toks) == len(starts) == len(ends) == len(tags)):
            raise DataError(
                f"{path} row {i}: tokens, starts, ends and tags differ in length; rerun the tasks stage"
            )
        prev = 0
        for tok, s, e in zip(toks, starts, ends):
            if not (prev <= s < e <= len(text)) or text[s:e] != tok:
                raise DataError(
                    f"{path} row {i}: token {tok!r} at [{s}, {e}) does not match the text there "
                    "(or offsets go backwards); rerun the tasks stage"
                )
            prev = e
        unknown = sorted(set(tags) - set(label2id))
        if unknown:
            raise DataError(f"{path} row {i}: tag(s) {unknown} are not in labels.json; rerun the tasks stage")


def encode_ner(
    tokenizer, cols: dict[str, list], label2id: dict[str, int], max_length: int, echo_sep: int | None = None
) -> NerSplit:
    """Subword ids cut at `max_length`, labels on first subwords only, and the word -> token map.
    With `echo_sep`, each text is read twice (see stages/common/subwords.echo) and labelled
    on its second copy; `max_length` then bounds one copy."""
    enc = tokenizer(cols["text"], add_special_tokens=True, truncation=False, return_offsets_mapping=True)
    ids, labels, firsts, truncated, unaligned = [], [], [], 0, 0
    for row, (x, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
        truncated += len(x) > max_length
        x, offs = x[:max_length], offs[:max_length]
        if echo_sep is not None:
            x, offs = echo(x, offs, echo_sep)
        first = first_subwords(offs, cols["starts"][row], cols["ends"][row])
        y = [-100] * len(x)
        for k, tag in zip(first, cols["tags"][row]):
            if k >= 0:
                y[k] = label2id[tag]
        unaligned += first.count(-1)
        ids.append(x)
        labels.append(y)
        firsts.append(first)
    if any(len(x) == 0 for x in ids):
        raise DataError("task ner: a text encodes to zero tokens; check the tokenizer in models/pretrain")
    return NerSplit(Encoded(ids, labels, truncated), firsts, cols["tags"], unaligned)


def word_predictions(pred: list[int], first: list[int], id2label: dict[int, str]) -> list[str]:
    """Tags per word from per-token predictions; a word with no subword of its own gets O."""
    return [id2label[pred[k]] if k >= 0 else "O" for k in first]


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (seqeval, strict IOB2: types and both ends must match)."""
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    return {
        "precision": precision_score(gold, pred, **kw),
        "recall": recall_score(gold, pred, **kw),
        "f1": f1_score(gold, pred, **kw),
    }


def token_loss(model, batch: dict):
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)


def ner_strategy(
    train: NerSplit, valid: NerSplit, batch_size: int, pad_id: int, env: TrainEnv, id2label
) -> Strategy:
    """Token cross-entropy on first subwords; valid entity F1 over words picks the best epoch."""
    import torch.nn.functional as F

    def validate(model) -> dict[str, float]:
        loss_sum, n, preds = 0.0, 0, []
        for batch, logits in eval_outputs(model, batches(valid.enc, batch_size, pad_id, None), env):
            labels = batch["labels"].flatten()
            loss_sum += F.cross_entropy(
                logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum"
            ).item()
            n += int((labels != -100).sum())
            preds += logits.argmax(-1).tolist()  # right-padded, so row positions are token indices
        words = [word_predictions(p, f, id2label) for p, f in zip(preds, valid.first)]
        return {"loss": loss_sum / max(n, 1)} | entity_scores(valid.tags, words)

    return Strategy(
        metric="f1",
        higher_is_better=True,
        n_batches=-(-len(train.enc.ids) // batch_size),
        train_batches=lambda rng: batches(train.enc, batch_size, pad_id, rng),
        loss=token_loss,
        validate=validate,
    )


def run(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    pretrain_dir: Path = paths.PRETRAIN_DIR,
    tasks_dir: Path = paths.TASKS_DIR,
) -> dict[str, Any]:
    """Fine-tune a token classifier on `tasks_dir/<task>` (silver train/valid), save it, return metrics."""
    tp = cfg.train_params(task)
    seeded(seed)
    task_dir = tasks_dir / task
    labels = read_labels(task_dir)
    check_ner_labels(task_dir / "labels.json", labels)
    label2id = {name: i for i, name in enumerate(labels)}
    tok = load_tokenizer(pretrain_dir)
    model = load_classifier(task, pretrain_dir, labels, tok.pad_token_id, per_token=True)
    max_length = fit_length(tp.max_length, model.config, f"finetune.{task}.max_length")
    # Echo only helps a causal backbone: a masked one already sees both sides of each token.
    use_echo = tp.echo and spec_objective(str(pretrain_dir)) == "clm"
    if use_echo:
        max_length = min(max_length, echo_length(model.config.max_position_embeddings))
    sep = tok.eos_token_id if tok.eos_token_id is not None else tok.pad_token_id
    data = {}
    for s in ("train", "valid"):
        cols = read_columns(task_dir, s, COLUMNS)
        check_rows(task_dir / f"{s}.parquet", cols, label2id)
        data[s] = encode_ner(tok, cols, label2id, max_length, sep if use_echo else None)
        if data[s].unaligned_words:
            log.info(
                "%s: %d words have no subword of their own (cut or merged): scored as O",
                s,
                data[s].unaligned_words,
            )
    with train_env(task, cfg, seed) as env:
        log.info(
            "%s: %s, %.2fM params, %s",
            task,
            model.config.model_type,
            model.num_parameters() / 1e6,
            env.device,
        )
        id2label = dict(enumerate(labels))
        res = fit(
            model,
            ner_strategy(data["train"], data["valid"], tp.batch_size, tok.pad_token_id, env, id2label),
            tp,
            env,
        )
    tok.model_max_length = max_length
    setattr(model.config, ECHO_KEY, use_echo)  # evaluate reads the input the same way
    best = next(h for h in res.history if h["step"] == res.best_step)
    metrics = fit_metrics(task, model, env, res, "f1") | {
        "labels": labels,
        "train_examples": len(data["train"].enc.ids),
        "valid_examples": len(data["valid"].enc.ids),
        "valid_words": sum(len(t) for t in data["valid"].tags),
        "max_length": max_length,
        "echo": use_echo,
        "truncated": {s: d.enc.truncated for s, d in data.items()},
        "unaligned_words": {s: d.unaligned_words for s, d in data.items()},
        "best_valid_precision": round(best["valid_precision"], 4),
        "best_valid_recall": round(best["valid_recall"], 4),
    }
    save(task, model, tok, metrics)
    return metrics

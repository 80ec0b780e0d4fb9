"""Fine-tune models/pretrain for named entities (IOB2 over PER/ORG/LOC/MISC) on data/tasks/ner/.

The task data is word-level (spaCy tokens with character offsets). Each text is tokenized
with offsets, and each word is mapped to its subword tokens: ONE subword carries the word's
tag (the first, as Hugging Face does, or the last on a causal backbone: `label_subword`),
the other subwords and special tokens get -100 (no loss). Predictions are read back at
those subwords and decoded to the best valid IOB2 sequence, so the valid score is
entity-level F1 over words (seqeval, strict IOB2), the same unit as the gold test set that
evaluate scores.

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
from stages.common.iob import entity_spans, word_tags
from stages.common.subwords import ECHO_KEY, SUBWORD_KEY, echo, echo_length, word_subwords
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
    of its labelled subword (-1 when it has none: cut by max_length, or inside the previous
    word's only subword) with the gold word tags for scoring."""

    enc: Encoded
    picks: list[list[int]]
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


@dataclass(frozen=True)
class Mention:
    """An entity of the train split: its surface text, and its words as offsets into that text."""

    text: str
    tokens: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]


def mention_pool(cols: dict[str, list]) -> dict[str, list[Mention]]:
    """Every entity of the split by type, as often as it occurs (frequent names are drawn more)."""
    pool: dict[str, list[Mention]] = {}
    for text, toks, starts, ends, tags in zip(*(cols[c] for c in COLUMNS)):
        for s, e, typ in entity_spans(tags):
            base = starts[s]
            pool.setdefault(typ, []).append(
                Mention(
                    text[base : ends[e - 1]],
                    tuple(toks[s:e]),
                    tuple(x - base for x in starts[s:e]),
                    tuple(x - base for x in ends[s:e]),
                )
            )
    return pool


def _replace(row: tuple, choice: dict[int, tuple[int, str, Mention]]) -> tuple:
    """`row` (text, tokens, starts, ends, tags) with the entities starting at the words in
    `choice` (first word -> (end word, type, new mention)) replaced; the text between words is kept."""
    text, toks, starts, ends, tags = row
    parts, out_t, out_s, out_e, out_g = [], [], [], [], []
    pos = length = w = 0  # consumed in the old text, written to the new, current word

    def put(piece: str) -> int:
        nonlocal length
        parts.append(piece)
        length += len(piece)
        return length - len(piece)

    while w < len(toks):
        if w in choice:
            end, typ, m = choice[w]
            put(text[pos : starts[w]])
            at = put(m.text)
            out_t += m.tokens
            out_s += [at + x for x in m.starts]
            out_e += [at + x for x in m.ends]
            out_g += [f"B-{typ}"] + [f"I-{typ}"] * (len(m.tokens) - 1)
            pos, w = ends[end - 1], end
            continue
        put(text[pos : starts[w]])
        at = put(text[starts[w] : ends[w]])
        out_t.append(toks[w])
        out_s.append(at)
        out_e.append(at + ends[w] - starts[w])
        out_g.append(tags[w])
        pos, w = ends[w], w + 1
    put(text[pos:])
    return "".join(parts), out_t, out_s, out_e, out_g


def replace_mentions(cols: dict[str, list], copies: int, prob: float, seed: int) -> dict[str, list]:
    """`cols` plus up to `copies` altered copies of each sentence with entities, in which each
    entity is replaced, with probability `prob`, by an entity of the same type drawn from the
    split ("mention replacement", Dai & Adel 2020, "An Analysis of Simple Data Augmentation
    for Named Entity Recognition"). The model sees each name in more contexts and each context
    with more names. A copy that drew no replacement is not added. Seeded."""
    import random

    rng = random.Random(seed)
    pool = mention_pool(cols)
    out = {c: list(cols[c]) for c in COLUMNS}
    for row in zip(*(cols[c] for c in COLUMNS)):
        spans = entity_spans(row[4])
        for _ in range(copies):
            choice = {s: (e, t, rng.choice(pool[t])) for s, e, t in spans if rng.random() < prob}
            if choice:
                for c, v in zip(COLUMNS, _replace(row, choice)):
                    out[c].append(v)
    return out


def encode_ner(
    tokenizer,
    cols: dict[str, list],
    label2id: dict[str, int],
    max_length: int,
    echo_sep: int | None = None,
    subword: str = "first",
) -> NerSplit:
    """Subword ids cut at `max_length`, labels on one subword of each word only (its `subword`:
    first or last), and the word -> token map. With `echo_sep`, each text is read twice (see
    stages/common/subwords.echo) and labelled on its second copy; `max_length` then bounds one copy."""
    enc = tokenizer(cols["text"], add_special_tokens=True, truncation=False, return_offsets_mapping=True)
    ids, labels, picks, truncated, unaligned = [], [], [], 0, 0
    for row, (x, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
        truncated += len(x) > max_length
        x, offs = x[:max_length], offs[:max_length]
        if echo_sep is not None:
            x, offs = echo(x, offs, echo_sep)
        pick = word_subwords(subword, offs, cols["starts"][row], cols["ends"][row])
        y = [-100] * len(x)
        for k, tag in zip(pick, cols["tags"][row]):
            if k >= 0:
                y[k] = label2id[tag]
        unaligned += pick.count(-1)
        ids.append(x)
        labels.append(y)
        picks.append(pick)
    if any(len(x) == 0 for x in ids):
        raise DataError("task ner: a text encodes to zero tokens; check the tokenizer in models/pretrain")
    return NerSplit(Encoded(ids, labels, truncated), picks, cols["tags"], unaligned)


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
    """Token cross-entropy on each word's labelled subword; valid entity F1 over words (IOB2 Viterbi, as evaluate
    decodes) picks the best epoch."""
    import torch.nn.functional as F

    def validate(model) -> dict[str, float]:
        loss_sum, n, preds = 0.0, 0, []
        for batch, logits in eval_outputs(model, batches(valid.enc, batch_size, pad_id, None), env):
            labels = batch["labels"].flatten()
            loss_sum += F.cross_entropy(
                logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum"
            ).item()
            n += int((labels != -100).sum())
            preds += list(logits.float().log_softmax(-1).cpu().numpy())  # right-padded: row = token index
        names = [id2label[i] for i in range(len(id2label))]
        words = [word_tags(p, f, names) for p, f in zip(preds, valid.picks)]
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
    causal = spec_objective(str(pretrain_dir)) == "clm"
    use_echo = tp.echo and causal
    subword = tp.label_subword if tp.label_subword != "auto" else ("last" if causal else "first")
    if use_echo:
        max_length = min(max_length, echo_length(model.config.max_position_embeddings))
    sep = tok.eos_token_id if tok.eos_token_id is not None else tok.pad_token_id
    data, replaced = {}, 0
    for s in ("train", "valid"):
        cols = read_columns(task_dir, s, COLUMNS)
        check_rows(task_dir / f"{s}.parquet", cols, label2id)
        if s == "train" and tp.mention_replacement:
            n = len(cols["text"])
            cols = replace_mentions(cols, tp.mention_replacement, tp.replace_prob, seed)
            replaced = len(cols["text"]) - n
            log.info("train: %d sentences + %d with replaced mentions", n, replaced)
        data[s] = encode_ner(tok, cols, label2id, max_length, sep if use_echo else None, subword)
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
    setattr(model.config, SUBWORD_KEY, subword)
    best = next(h for h in res.history if h["step"] == res.best_step)
    metrics = fit_metrics(task, model, env, res, "f1") | {
        "labels": labels,
        "train_examples": len(data["train"].enc.ids),
        "train_examples_with_replaced_mentions": replaced,
        "valid_examples": len(data["valid"].enc.ids),
        "valid_words": sum(len(t) for t in data["valid"].tags),
        "max_length": max_length,
        "echo": use_echo,
        "label_subword": subword,
        "truncated": {s: d.enc.truncated for s, d in data.items()},
        "unaligned_words": {s: d.unaligned_words for s, d in data.items()},
        "best_valid_precision": round(best["valid_precision"], 4),
        "best_valid_recall": round(best["valid_recall"], 4),
    }
    save(task, model, tok, metrics)
    return metrics

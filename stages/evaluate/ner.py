"""Named-entity recognition on the hand-annotated gold test set (data/tasks/ner/test.parquet).

Three systems tag the same gold tokens and are scored with seqeval, entity level, strict IOB2
(an entity counts only when its type and both boundaries match; a boundary error is one false
positive and one false negative):
- the fine-tuned token classifier (models/finetune/ner), read at the subword of each word it was
  trained on (first, or last on a causal backbone: `label_subword` in its config.json)
  and decoded to the best valid IOB2 sequence (stages/common/iob.viterbi);
- its teacher, the spaCy pipeline that labelled the silver training data (named in
  teacher.json beside the task data), mapped with label_map.json and projected onto the gold tokens by character spans;
- a dictionary of every entity string in the silver train split with its most frequent type,
  matched greedily, longest first.
The overall F1 gets a seeded bootstrap interval over sentences, with resamples shared by all
systems so that their intervals are paired. The same scores, interval included, are given per
genre of the gold set (news, encyclopedia, email, business-news, editorial) in the detail file,
since a single figure hides text unlike the silver training data.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.entities import ENTITY_TYPES, IOB2_TAGS
from stages.common.errors import DataError
from stages.common.io import read_json
from stages.common.iob import entity_spans, word_tags
from stages.common.manifest import BOUNDS, COUNT, FRACTION, MODEL, Metric, System, interval
from stages.common.na import NA
from stages.common.runtime import progress
from stages.evaluate import paths
from stages.evaluate.context import Context, Result, na_result, not_finetuned, task_not_built
from stages.evaluate.models import check_model_dir, check_vocab, load_model, tokenizer_size

log = logging.getLogger(__name__)

TASK = "ner"
# system -> key prefix: the fine-tuned model has none, baselines their name.
SYSTEMS = {"model": "ner.gold", "spacy": "ner.spacy.gold", "dictionary": "ner.dictionary.gold"}
SYSTEM_LABELS = (System(MODEL, "model"), System("spacy", "spaCy teacher"), System("dictionary", "dictionary"))
# score -> (measure, entity type or None for all entities); seqeval's measure names are the labels.
SCORES = {
    "precision": ("precision", None),
    "recall": ("recall", None),
    "f1": ("f1", None),
    **{f"{t}.f1": ("f1", t) for t in ENTITY_TYPES},
}
WITH_INTERVAL = {"f1": "F1 95% CI"}  # score -> the label of its bootstrap interval
SCORE_KEYS = (*SCORES, *(f"{score}_ci_{bound}" for score in WITH_INTERVAL for bound in BOUNDS))


def metrics(ctx: Context | None = None) -> list[Metric]:
    """The `ner.*` keys: each score of the fine-tuned tagger beside the dictionary's and the teacher's."""
    out = [
        Metric("ner.gold.n_sentences", TASK, "gold test sentences", COUNT, measure="n_sentences"),
        Metric("ner.gold.n_entities", TASK, "gold test entities", COUNT, measure="n_entities"),
    ]
    for system, prefix in SYSTEMS.items():
        for key, (measure, entity) in SCORES.items():
            baselines = (
                () if system != MODEL else (f"{SYSTEMS['dictionary']}.{key}", f"{SYSTEMS['spacy']}.{key}")
            )
            axis = {"axis": "type", "at": entity} if entity else {}
            point = Metric(f"{prefix}.{key}", TASK, measure, FRACTION, "higher", baselines,
                           system=system, measure=measure, **axis)  # fmt: skip
            out += [point, *(interval(point, WITH_INTERVAL[key]) if key in WITH_INTERVAL else [])]
    return out


@dataclass(frozen=True)
class Sentences:
    """A tokenized NER split: texts, tokens with their character offsets, IOB2 tags."""

    path: Path
    texts: list[str]
    tokens: list[list[str]]
    starts: list[list[int]]
    ends: list[list[int]]
    tags: list[list[str]]
    genres: list[str]  # one per sentence; "all" when the split has no genre column


def read_sentences(path: Path) -> Sentences:
    """A split checked row by row: equal lengths, offsets that match the text, known tags."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: not found, but its task folder exists; rerun `dvc repro tasks`")
    table = pq.read_table(path)
    cols = ("text", "tokens", "starts", "ends", "tags")
    missing = sorted(set(cols) - set(table.column_names))
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; an NER split needs {list(cols)}")
    data = {c: table.column(c).to_pylist() for c in cols}
    valid = set(IOB2_TAGS)
    for i in range(table.num_rows):
        text, tokens = data["text"][i], data["tokens"][i]
        n = len(tokens or [])
        if not all(len(data[c][i] or []) == n for c in ("starts", "ends", "tags")):
            raise DataError(f"{path}: row {i}: tokens, starts, ends and tags differ in length")
        for tok, s, e in zip(tokens, data["starts"][i], data["ends"][i]):
            if text[s:e] != tok:
                raise DataError(f"{path}: row {i}: token {tok!r} is not text[{s}:{e}] ({text[s:e]!r})")
        bad = sorted(set(data["tags"][i]) - valid)
        if bad:
            raise DataError(f"{path}: row {i}: unknown tag(s) {bad}; tags are IOB2 over {list(ENTITY_TYPES)}")
    genres = (
        [str(g) for g in table.column("genre").to_pylist()]
        if "genre" in table.column_names
        else ["all"] * table.num_rows
    )
    return Sentences(path, data["text"], data["tokens"], data["starts"], data["ends"], data["tags"], genres)


def spans_to_tags(
    starts: Sequence[int], ends: Sequence[int], spans: Sequence[tuple[int, int, str]]
) -> list[str]:
    """IOB2 tags of tokens from (start, end, type) character spans: a token overlapping a span is in it."""
    tags = ["O"] * len(starts)
    for s, e, label in spans:
        inside = [i for i, (ts, te) in enumerate(zip(starts, ends)) if ts < e and te > s]
        for n, i in enumerate(inside):
            if tags[i] == "O":  # overlapping spans: the first one keeps the token
                tags[i] = ("B-" if n == 0 else "I-") + label
    return tags


def build_dictionary(train: Sentences) -> dict[tuple[str, ...], str]:
    """Every entity string of the train split -> its most frequent type (ties: alphabetical)."""
    counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)
    for tokens, tags in zip(train.tokens, train.tags):
        for s, e, label in entity_spans(tags):
            counts[tuple(tokens[s:e])][label] += 1
    return {words: min(c, key=lambda t: (-c[t], t)) for words, c in counts.items()}


def dictionary_tag(tokens: Sequence[str], dictionary: dict[tuple[str, ...], str]) -> list[str]:
    """Greedy left-to-right longest match of dictionary entries over the tokens."""
    longest = max((len(k) for k in dictionary), default=0)
    tags, i = ["O"] * len(tokens), 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            label = dictionary.get(tuple(tokens[i : i + n]))
            if label is not None:
                tags[i : i + n] = [f"B-{label}"] + [f"I-{label}"] * (n - 1)
                i += n
                break
        else:
            i += 1
    return tags


def read_label_map(path: Path) -> dict[str, str]:
    """The teacher's OntoNotes label -> PER/ORG/LOC/MISC map (labels absent from it map to O)."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(v in ENTITY_TYPES or v == "O" for v in data.values()):
        raise DataError(f"{path}: expected a mapping of spaCy labels to one of {list(ENTITY_TYPES)} or O")
    return {str(k): v for k, v in data.items() if v != "O"}


def read_teacher(path: Path) -> str:
    """The spaCy pipeline the tasks stage labelled the silver data with (its teacher.json)."""
    if not path.is_file():
        raise DataError(
            f"{path} not found: data/tasks/ner is older than the tasks stage; run `dvc repro tasks`"
        )
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("teacher"), str) or not data["teacher"]:
        raise DataError(f'{path}: expected {{"teacher": <spaCy pipeline name>}}; run `dvc repro tasks`')
    return data["teacher"]


def spacy_tag(gold: Sentences, teacher: str, label_map: dict[str, str], batch_size: int) -> list[list[str]]:
    """The spaCy teacher's entities on the gold texts, mapped and projected onto the gold tokens."""
    import spacy

    try:
        nlp = spacy.load(teacher)
    except OSError as e:
        raise DataError(
            f"spaCy model {teacher} does not load ({e}); pip install -r requirements.txt"
        ) from None
    docs = progress(
        nlp.pipe(gold.texts, batch_size=batch_size), "spacy ner", "sentence", total=len(gold.texts)
    )
    out = []
    for doc, starts, ends in zip(docs, gold.starts, gold.ends):
        spans = [(e.start_char, e.end_char, label_map[e.label_]) for e in doc.ents if e.label_ in label_map]
        out.append(spans_to_tags(starts, ends, spans))
    return out


def model_tag(
    model_dir: Path, gold: Sentences, max_length: int, batch_size: int, device: str
) -> tuple[list[list[str]], int]:
    """The fine-tuned tagger's IOB2 tags per gold token, and how many words had no subword of their own (tagged O)."""
    import torch
    from transformers import AutoTokenizer

    # The alignment finetune trained with: reading the tags elsewhere would score another model.
    from stages.common.subwords import ECHO_KEY, SUBWORD_KEY, SUBWORDS, echo, echo_length, word_subwords

    config = check_model_dir(model_dir, f"finetune@{TASK}")
    check_vocab(model_dir, int(config.get("vocab_size") or 0), tokenizer_size(model_dir), None)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    model = load_model(model_dir, "token_cls", device)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    names = [id2label[i] for i in range(len(id2label))]
    if not set(id2label.values()) <= set(IOB2_TAGS):
        raise DataError(
            f"{model_dir / 'config.json'}: id2label {sorted(id2label.values())} are not IOB2 tags over "
            f"{list(ENTITY_TYPES)}; finetune must save the names of data/tasks/ner/labels.json"
        )
    # Trained on echoed input (stages/common/subwords.echo): read it the same way here.
    echoed = bool(config.get(ECHO_KEY))
    subword = config.get(SUBWORD_KEY, "first")  # taggers saved before the key existed: first
    if subword not in SUBWORDS:
        raise DataError(
            f"{model_dir / 'config.json'}: {SUBWORD_KEY} is {subword!r}, not one of {sorted(SUBWORDS)}; "
            "rerun finetune@ner"
        )
    if echoed:
        max_length = min(
            max_length, echo_length(int(config.get("max_position_embeddings") or 2 * max_length + 1))
        )
    sep = tok.eos_token_id if tok.eos_token_id is not None else tok.pad_token_id
    enc = tok(gold.texts, truncation=True, max_length=max_length, return_offsets_mapping=True)
    encoded = list(zip(enc["input_ids"], enc["offset_mapping"]))
    if echoed:
        encoded = [echo(ids, offs, sep) for ids, offs in encoded]
    # Batches of similar length: the gold file mixes genres of very different sentence lengths,
    # and in file order batches were 1.8x their real tokens in padding.
    order = sorted(range(len(encoded)), key=lambda j: len(encoded[j][0]))
    out: list[list[str]] = [[] for _ in encoded]
    lost = 0
    with torch.inference_mode():
        for i in progress(range(0, len(order), batch_size), "ner predict", "batch"):
            batch = order[i : i + batch_size]
            width = max(len(encoded[j][0]) for j in batch)
            input_ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, j in enumerate(batch):  # right padding, as in training
                ids = encoded[j][0]
                input_ids[r, : len(ids)] = torch.tensor(ids)
                mask[r, : len(ids)] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            scores = logits.float().log_softmax(-1).cpu().numpy()
            for r, j in enumerate(batch):
                picks = word_subwords(subword, encoded[j][1], gold.starts[j], gold.ends[j])
                lost += picks.count(-1)
                out[j] = word_tags(scores[r], picks, names)
    return out, lost


def sentence_counts(y_true: list[list[str]], y_pred: list[list[str]]) -> np.ndarray:
    """Per sentence: (true positives, predicted entities, gold entities), strict IOB2."""
    from seqeval.scheme import IOB2, Entities

    true, pred = Entities(y_true, IOB2).entities, Entities(y_pred, IOB2).entities
    return np.array(
        [(len(set(t) & set(p)), len(p), len(t)) for t, p in zip(true, pred)], dtype=np.int64
    ).reshape(-1, 3)


def bootstrap_f1(counts: np.ndarray, n_resamples: int, ci: float, seed: int) -> tuple[float, float]:
    """Percentile interval of micro F1 over sentence resamples (seeded: every system gets the same ones)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(counts), size=(n_resamples, len(counts)))
    tp, n_pred, n_true = (counts[:, c][idx].sum(axis=1) for c in range(3))
    denom = n_pred + n_true
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_resamples), where=denom > 0)
    lo, hi = np.percentile(f1, [100 * (1 - ci) / 2, 100 * (1 + ci) / 2])
    return float(lo), float(hi)


def score(y_true: list[list[str]], y_pred: list[list[str]], cfg: Any, seed: int) -> tuple[dict, dict]:
    """Flat key suffix -> value (n/a for types absent from gold), and the per-type detail."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = classification_report(
        y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    overall = report["micro avg"]
    low, high = bootstrap_f1(sentence_counts(y_true, y_pred), cfg.bootstrap, cfg.ci, seed)
    values: dict[str, Any] = {
        "precision": float(overall["precision"]),
        "recall": float(overall["recall"]),
        "f1": float(overall["f1-score"]),
        "f1_ci_low": low,
        "f1_ci_high": high,
    }
    per_type = {}
    for t in ENTITY_TYPES:
        r = report.get(t, {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
        per_type[t] = {
            "support": int(r["support"]),
            "precision": r["precision"],
            "recall": r["recall"],
            "f1": r["f1-score"],
        }
        values[f"{t}.f1"] = float(r["f1-score"]) if r["support"] else NA
    return values, per_type


def genre_scores(
    gold: Sentences, tags: dict[str, list[list[str]]], cfg: Any, seed: int
) -> dict[str, dict[str, Any]]:
    """Per genre of the gold set, in file order: its size and each system's scores (with the
    bootstrap interval over that genre's sentences, resamples shared by the systems)."""
    out: dict[str, dict[str, Any]] = {}
    for genre in dict.fromkeys(gold.genres):
        rows = [i for i, g in enumerate(gold.genres) if g == genre]
        y_true = [gold.tags[i] for i in rows]
        entry: dict[str, Any] = {
            "sentences": len(rows),
            "entities": sum(len(entity_spans(t)) for t in y_true),
            "systems": {},
        }
        for system, pred in tags.items():
            values, per_type = score(y_true, [pred[i] for i in rows], cfg, seed)
            entry["systems"][system] = {
                **{k: v for k, v in values.items() if "." not in k},
                "types": per_type,
            }
        out[genre] = entry
    return out


def family(ctx: Context) -> Result:
    """ner.* for the fine-tuned tagger and both baselines on the gold test set."""
    task_dir = paths.TASKS_DIR / TASK
    all_keys = [m.key for m in metrics(ctx)]
    if not task_dir.is_dir():
        return na_result(all_keys, task_not_built(TASK))
    gold = read_sentences(task_dir / "test.parquet")
    if not gold.texts:
        return na_result(all_keys, f"{gold.path} has no rows")
    tags: dict[str, list[list[str]]] = {}
    na: dict[str, str] = {}
    detail: dict[str, Any] = {"test": str(gold.path), "systems": {}, "na": na}
    if TASK in ctx.tasks:
        tags["model"], lost = model_tag(
            paths.FINETUNE_DIR / TASK, gold, ctx.cfg.ner.max_length, ctx.cfg.batch_size, ctx.device
        )
        detail["words_without_subword"] = lost
    teacher = read_teacher(task_dir / "teacher.json")
    tags["spacy"] = spacy_tag(gold, teacher, read_label_map(task_dir / "label_map.json"), ctx.cfg.batch_size)
    dictionary = build_dictionary(read_sentences(task_dir / "train.parquet"))
    detail["dictionary_entries"] = len(dictionary)
    tags["dictionary"] = [dictionary_tag(tokens, dictionary) for tokens in gold.tokens]

    n_entities = sum(len(entity_spans(t)) for t in gold.tags)
    flat: dict[str, Any] = {"ner.gold.n_sentences": len(gold.texts), "ner.gold.n_entities": n_entities}
    for system, prefix in SYSTEMS.items():
        values: dict[str, Any] = {}
        if system in tags:
            values, per_type = score(gold.tags, tags[system], ctx.cfg.ner, ctx.seed)
            detail["systems"][system] = {
                **{k: v for k, v in values.items() if "." not in k},
                "types": per_type,
            }
        for key in SCORE_KEYS:
            flat[f"{prefix}.{key}"] = values.get(key, NA)
            if values.get(key, NA) == NA:
                na[f"{prefix}.{key}"] = (
                    f"no gold {key.split('.')[0]} entity in {gold.path}"
                    if system in tags
                    else not_finetuned(TASK)
                )
    detail["genres"] = genre_scores(gold, tags, ctx.cfg.ner, ctx.seed)
    detail["method"] = (
        "seqeval entity-level precision/recall/F1, mode=strict, scheme=IOB2 (micro over entities); "
        f"{ctx.cfg.ner.ci:.0%} percentile bootstrap of F1 over {ctx.cfg.ner.bootstrap} sentence resamples "
        f"(seed {ctx.seed}, shared by all systems). Model: one subword of each gold word (first or last, "
        "as trained), IOB2 Viterbi decoding; spaCy: "
        f"{teacher} entities via label_map.json onto gold tokens by character overlap; dictionary: "
        "entity strings of train.parquet with their most frequent type, greedy longest match"
    )
    return flat, detail, []

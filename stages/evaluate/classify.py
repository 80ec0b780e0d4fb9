"""Classification metrics of a fine-tuned model on data/tasks/<task>/test.parquet.

The model is scored beside two baselines trained on the same train split: the majority
class, and TF-IDF + logistic regression. Every system gets accuracy and macro-F1 with a
seeded percentile-bootstrap interval; all systems share the same resamples, so their
intervals are paired.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.errors import DataError
from stages.common.manifest import BOUNDS, COUNT, FRACTION, MODEL, Metric, System, interval
from stages.common.na import NA
from stages.common.runtime import progress
from stages.evaluate import paths
from stages.evaluate.context import Context, Result, na_result, not_finetuned
from stages.evaluate.models import check_model_dir, check_vocab, load_model, model_key, tokenizer_size
from stages.evaluate.stats import bootstrap_ci, paired_diff_ci, point_scores

log = logging.getLogger(__name__)

# score -> (label, direction); each has a bootstrap interval, `<score>_ci_low` / `_ci_high`.
SCORES = {"acc": ("accuracy", "higher"), "macro_f1": ("macro-F1", "higher")}
SCORE_KEYS = (*SCORES, *(f"{score}_ci_{bound}" for score in SCORES for bound in BOUNDS))
# system name -> the key prefix under the task: the model itself has none, baselines their name.
SYSTEMS = {"model": "", "majority": "majority.", "tfidf": "tfidf."}
SYSTEM_LABELS = (
    System(MODEL, "fine-tuned model"),
    System("majority", "majority class (baseline)"),
    System("tfidf", "TF-IDF + logistic regression (baseline)"),
)
# The model's accuracy minus TF-IDF's, on the same paired resamples as every interval here.
DIFF = "acc_minus_tfidf"
DIFF_KEYS = (DIFF, *(f"{DIFF}_ci_{bound}" for bound in BOUNDS))


def metrics(ctx: Context | None, task: str) -> list[Metric]:
    """The `<task>.*` keys: each score of the fine-tuned model beside the majority and TF-IDF baselines'."""
    out = [Metric(f"{task}.test.n", task, "test examples", COUNT, measure="n")]
    for system, prefix in SYSTEMS.items():
        for score, (label, direction) in SCORES.items():
            baselines = tuple(f"{task}.{p}test.{score}" for p in SYSTEMS.values() if p) if not prefix else ()
            key = f"{task}.{prefix}test.{score}"
            point = Metric(key, task, label, FRACTION, direction, baselines, system=system, measure=score)
            out += [point, *interval(point, f"{label} CI")]
    diff = Metric(f"{task}.test.{DIFF}", task, "accuracy minus TF-IDF's", FRACTION, "higher",
                  system=MODEL, measure=DIFF)  # fmt: skip
    return out + [diff, *interval(diff, "paired CI of the difference")]


def read_split(task_dir: Path, split: str) -> tuple[list[str], np.ndarray]:
    """Texts and integer labels of one split; DataError naming the file when it is unusable."""
    import pyarrow.parquet as pq

    path = task_dir / f"{split}.parquet"
    if not path.is_file():
        raise DataError(f"{path}: not found; run `dvc repro tasks`")
    table = pq.read_table(path)
    missing = {"text", "label"} - set(table.column_names)
    if missing:
        raise DataError(
            f"{path}: missing column(s) {sorted(missing)}; a classification split needs text and label"
        )
    texts = [t if isinstance(t, str) else "" for t in table.column("text").to_pylist()]
    labels = table.column("label").to_pylist()
    bad = next((i for i, v in enumerate(labels) if not isinstance(v, int) or v < 0), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad} has label {labels[bad]!r}; labels must be integers >= 0")
    return texts, np.asarray(labels, dtype=np.int64)


def label_names(task_dir: Path, n: int) -> list[str]:
    """Names for label ids 0..n-1 from labels.json (a list, {"names": [...]}, or id<->name maps)."""
    path = task_dir / "labels.json"
    names: dict[int, str] = {}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("names"), list):
            data = data["names"]
        elif isinstance(data, dict) and isinstance(data.get("id2label"), dict):
            data = data["id2label"]
        if isinstance(data, list):
            names = dict(enumerate(map(str, data)))
        elif isinstance(data, dict):
            for k, v in data.items():
                if str(k).isdigit():
                    names[int(k)] = str(v)
                elif isinstance(v, int):
                    names[v] = str(k)
    else:
        log.warning("%s: not found; naming labels by their ids", path)
    return [names.get(i, str(i)) for i in range(n)]


def load_classifier(
    model_dir: Path, max_length: int, batch_size: int, device: str
) -> Callable[[list[str]], np.ndarray]:
    """A checked, loaded AutoModelForSequenceClassification as a function: texts -> argmax labels.

    Texts are batched in order of length, so that a batch pads little.
    """
    import torch
    from transformers import AutoTokenizer

    config = check_model_dir(model_dir, "finetune")
    check_vocab(model_dir, int(config.get("vocab_size") or 0), tokenizer_size(model_dir), None)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if tok.pad_token is None:  # decoder tokenizers often lack one; padding is masked anyway
        tok.pad_token = tok.eos_token or tok.unk_token
    model = load_model(model_dir, "seq_cls", device)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    # A text's label, once predicted, is looked up: robustness attacks the clean test texts
    # the classification family has already predicted, and attack candidates repeat.
    known = _PREDICTED.setdefault((*model_key(model_dir, "seq_cls", device), max_length), {})

    def predict_texts(texts: list[str]) -> np.ndarray:
        # First-seen order, then a stable sort by length: the batches of texts never seen before
        # are those of a plain sorted pass, so their logits are too.
        todo = sorted(dict.fromkeys(t for t in texts if t not in known), key=len)
        with torch.inference_mode():
            for i in range(0, len(todo), batch_size):
                batch = todo[i : i + batch_size]
                enc = tok(batch, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
                logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
                known.update(zip(batch, logits.argmax(-1).tolist()))
        return np.array([known[t] for t in texts], dtype=np.int64)

    return predict_texts


# Predicted labels by (model, max_length) and text, for the life of the process.
_PREDICTED: dict[tuple[Any, ...], dict[str, int]] = {}


def predict(model_dir: Path, texts: list[str], max_length: int, batch_size: int, device: str) -> np.ndarray:
    """Argmax labels of a fine-tuned AutoModelForSequenceClassification, in chunks with progress."""
    classifier = load_classifier(model_dir, max_length, batch_size, device)
    chunk = 64 * batch_size
    parts = [
        classifier(texts[i : i + chunk])
        for i in progress(range(0, len(texts), chunk), f"predict {model_dir.name}", "chunk")
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


# Fitted baselines by (train data, params, seed): the classify and adversarial families and
# robustness all score TF-IDF fitted on classify/train, and one fit serves them all.
_TFIDF: dict[str, Callable[[list[str]], np.ndarray]] = {}


def _tfidf_key(train: tuple[list[str], np.ndarray], cfg: Any, seed: int) -> str:
    h = hashlib.sha256(repr((cfg.tfidf_max_features, cfg.tfidf_ngram_max, cfg.logreg_c, seed)).encode())
    for text in train[0]:
        h.update(text.encode("utf-8", "surrogatepass") + b"\0")
    h.update(np.asarray(train[1], dtype=np.int64).tobytes())
    return h.hexdigest()


def fit_tfidf(train: tuple[list[str], np.ndarray], cfg: Any, seed: int) -> Callable[[list[str]], np.ndarray]:
    """TF-IDF + logistic regression fitted on `train`, as a function: texts -> labels.

    Fitted once per process for the same train split, params and seed."""
    key = _tfidf_key(train, cfg, seed)
    if key not in _TFIDF:
        _TFIDF[key] = _fit_tfidf(train, cfg, seed)
    return _TFIDF[key]


def _fit_tfidf(train: tuple[list[str], np.ndarray], cfg: Any, seed: int) -> Callable[[list[str]], np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(
        TfidfVectorizer(
            max_features=cfg.tfidf_max_features, ngram_range=(1, cfg.tfidf_ngram_max), sublinear_tf=True
        ),
        LogisticRegression(C=cfg.logreg_c, max_iter=2000, random_state=seed),
    )
    pipe.fit(train[0], train[1])
    return lambda texts: pipe.predict(texts).astype(np.int64)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> list[list[int]]:
    """k x k counts, rows = actual, columns = predicted."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (y_true, np.clip(y_pred, 0, k - 1)), 1)
    return m.tolist()


def score(y_true: np.ndarray, y_pred: np.ndarray, cfg: Any, seed: int) -> dict[str, float]:
    """Point scores and intervals; macro-F1 averages over the classes present in the test split."""
    labels = np.unique(y_true)
    return {
        **point_scores(y_true, y_pred, labels),
        **bootstrap_ci(y_true, y_pred, labels, cfg.bootstrap, cfg.ci, seed),
    }


def evaluate_classify(
    task: str, cfg: Any, batch_size: int, seed: int, device: str, task_dir: Path, model_dir: Path
) -> tuple[dict, dict, list]:
    """Flat `<task>.*` metrics (n/a with a reason where inputs are absent), detail, confusion rows."""
    config = check_model_dir(model_dir, "finetune")  # fail before the slow parts when it is broken
    train, (texts, y) = read_split(task_dir, "train"), read_split(task_dir, "test")
    n_model = int(config.get("num_labels") or len(config.get("id2label") or {}))
    k = int(max(y.max(initial=-1), train[1].max(initial=-1), n_model - 1)) + 1
    names = label_names(task_dir, k)
    na: dict[str, str] = {}
    preds: dict[str, np.ndarray] = {}
    if len(y) == 0:
        na |= {system: f"{task_dir / 'test.parquet'} has no rows" for system in SYSTEMS}
    else:
        preds["model"] = predict(model_dir, texts, cfg.max_length, batch_size, device)
        baselines(preds, na, train, texts, task_dir, cfg, seed)
    flat: dict[str, Any] = {f"{task}.test.n": int(len(y))}
    systems: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for system, prefix in SYSTEMS.items():
        scores = score(y, preds[system], cfg, seed) if system in preds else {}
        systems[system] = (
            {**scores, "confusion": confusion(y, preds[system], k)} if scores else {"na": na[system]}
        )
        flat |= {f"{task}.{prefix}test.{key}": scores.get(key, NA) for key in SCORE_KEYS}
        if system in na:
            reasons |= {f"{task}.{prefix}test.{key}": na[system] for key in SCORE_KEYS}
    if "model" in preds and "tfidf" in preds:
        d = paired_diff_ci(y, preds["model"], preds["tfidf"], cfg.bootstrap, cfg.ci, seed)
        systems["model"]["minus_tfidf"] = d
        flat |= dict(zip((f"{task}.test.{key}" for key in DIFF_KEYS), (d["diff"], d["ci_low"], d["ci_high"])))
    else:
        why = na.get("tfidf") or na.get("model") or "no predictions"
        flat |= {f"{task}.test.{key}": NA for key in DIFF_KEYS}
        reasons |= {f"{task}.test.{key}": why for key in DIFF_KEYS}
    detail = {
        "task": task,
        "model": str(model_dir),
        "labels": names,
        "test_class_counts": np.bincount(y, minlength=k).tolist(),
        "train_class_counts": np.bincount(train[1], minlength=k).tolist(),
        "systems": systems,
        "method": (
            f"accuracy and macro-F1 (scikit-learn, macro over classes present in test) with a {cfg.ci:.0%} "
            f"percentile bootstrap over {cfg.bootstrap} paired resamples (seed {seed}); baselines: majority "
            "class of train, TF-IDF + logistic regression fitted on train; the model's accuracy minus TF-IDF's "
            "has its interval from the same resampled indices (paired)"
        ),
        "na": reasons,
    }
    model_preds = preds.get("model", np.zeros(0, dtype=np.int64)).tolist()
    rows = [{"actual": names[a], "predicted": names[min(p, k - 1)]} for a, p in zip(y.tolist(), model_preds)]
    return flat, detail, rows


def baselines(
    preds: dict[str, np.ndarray],
    na: dict[str, str],
    train: tuple[list[str], np.ndarray],
    texts: list[str],
    task_dir: Path,
    cfg: Any,
    seed: int,
) -> None:
    """Add the majority and TF-IDF predictions on `texts` to `preds`, or their n/a reason to `na`."""
    if len(train[1]) == 0:
        na["majority"] = na["tfidf"] = f"{task_dir / 'train.parquet'} has no rows to fit a baseline on"
        return
    # Ties go to the smallest label id, so the baseline is deterministic.
    preds["majority"] = np.full(len(texts), np.bincount(train[1]).argmax(), dtype=np.int64)
    if len(np.unique(train[1])) < 2:
        na["tfidf"] = f"{task_dir / 'train.parquet'} has a single class; logistic regression needs two"
    else:
        preds["tfidf"] = fit_tfidf(train, cfg, seed)(texts)


# Classification tasks -> the task folder whose test split they are scored on: the
# adversarially trained model is scored on the same clean test as the plain one.
CLASSIFICATION_TASKS = {"classify": "classify", "adversarial": "classify"}


def family(ctx: Context, task: str) -> Result:
    """The classification family for one task; n/a when finetune does not train it."""
    if task not in ctx.tasks:
        keys = [m.key for m in metrics(ctx, task)]
        return na_result(keys, not_finetuned(task), task=task)
    return evaluate_classify(
        task,
        ctx.cfg.classify,
        ctx.cfg.batch_size,
        ctx.seed,
        ctx.device,
        paths.TASKS_DIR / CLASSIFICATION_TASKS[task],
        paths.FINETUNE_DIR / task,
    )

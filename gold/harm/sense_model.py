"""Fit the harm step's sense model (stages/clean/harm_sense.py) on the labelled real rows and
write its weights to stages/clean/harm_sense.json, which `clean.harm.sense_model` names.

    python gold/harm/sense_model.py [--check]

Training rows: the dev split of hard_negatives.jsonl and toxic_real.jsonl and the rows of
train.jsonl up to `LAST_ROUND`; never the test split. A row trains the model when it holds
exactly one plainly written ambiguous listed word, whose label is the row's. The feature set, the scope, C
and the threshold are the setting that `python benchmarks/harm_sense_model.py` picks by 5-fold
cross-validation grouped by document on the same rows (the lowest held-out false-positive
rate at recall >= 0.9). The features are read by the step with the rules alone
(`sense_model: ""`). Deterministic: `--check` refits and exits 1 when the file differs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT)]

from stages.clean import harm as h  # noqa: E402
from stages.clean.harm_sense import DEFAULT_PATH, SenseModel, token_features  # noqa: E402
from stages.common.params import default_params  # noqa: E402

# Round 5 (mail, review snippets, OANC) and the context features were measured and left out:
# neither lowers test FP without lowering recall (benchmarks/README.md).
LAST_ROUND = 4
CONTEXT = False  # without `context_features`
SCOPE = "all"
C = 0.1
THRESHOLD = 0.5
DIGITS = 6  # weights are stored rounded, so that a refit writes the same bytes


def labelled_rows(last_round: int = LAST_ROUND) -> list[dict]:
    """The rows the model may learn from: dev and training-only rows up to `last_round`, never test."""
    rows = []
    for name in ("hard_negatives", "toxic_real", "train"):
        with (HERE / f"{name}.jsonl").open(encoding="utf-8") as f:
            rows += [
                r
                for line in f
                if line.strip()
                and (r := json.loads(line))["split"] != "test"
                and r.get("round", 1) <= last_round
            ]
    return rows


def rules_step() -> h.Harm:
    return h.Harm(default_params("clean.harm", action="flag", sense_model=""))


def collect(
    step: h.Harm, rows: list[dict], context: bool = False, feature: Callable[..., Any] | None = None
) -> tuple[list[Any], list[int]]:
    """Features of each row that holds exactly one ambiguous word, labelled by the row, read
    as the step reads the row (with its document's `context`); `context`: also the
    `context_features`. `feature`, called with `harm._sense`'s arguments, gives another
    reading of the word in place of `token_features` (the benchmarks' dense features)."""
    seen: list[Any] = []
    if feature is None:

        def feature(word, token, text, start, words, at, tagger, old=False):
            return token_features(word, token, text, start, words, at, tagger, old, context=context)

    def record(word, token, text, start, words, at, tagger, old=False):
        if word in h._FAMILY:
            seen.append(feature(word, token, text, start, words, at, tagger, old))
        return h._sense(word, token, text, start, words, at, tagger, old)

    x, y = [], []
    for r in rows:
        seen.clear()
        h.read(r["text"], context=True, tagger=step.tagger, document=r.get("context"), sense=record)
        if len(seen) == 1:
            x.append(seen[0])
            y.append(r["toxic"])
    return x, y


def fit(x: list[dict], y: list[int], c: float):
    """A fitted (DictVectorizer, LogisticRegression) pair."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = DictVectorizer()
    return vec, LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(vec.fit_transform(x), y)


def model_of(vec, model, threshold: float, scope: str, context: bool = False) -> SenseModel:
    """The step's `SenseModel` of a fitted (DictVectorizer, LogisticRegression) pair, its
    weights rounded as the stored file holds them."""
    weights = {k: round(float(w), DIGITS) for k, w in zip(vec.get_feature_names_out(), model.coef_[0])}
    bias = round(float(model.intercept_[0]), DIGITS)
    return SenseModel(dict(sorted((k, w) for k, w in weights.items() if w)), bias, threshold, scope, context)


def artefact(rows: list[dict]) -> str:
    """The JSON text of the model fitted on `rows`."""
    x, y = collect(rules_step(), rows, CONTEXT)
    m = model_of(*fit(x, y, C), THRESHOLD, SCOPE, CONTEXT)
    data = {
        "fitted_by": "gold/harm/sense_model.py",
        "C": C,
        "rows": len(y),
        "toxic": sum(y),
        "scope": m.scope,
        "context_features": m.context,
        "threshold": m.threshold,
        "bias": m.bias,
        "weights": m.weights,
    }
    return json.dumps(data, indent=0, ensure_ascii=False) + "\n"


def main() -> None:
    text = artefact(labelled_rows())
    if "--check" in sys.argv:
        same = DEFAULT_PATH.exists() and DEFAULT_PATH.read_text(encoding="utf-8") == text
        print(f"{DEFAULT_PATH}: {'up to date' if same else 'differs from a refit'}")
        sys.exit(0 if same else 1)
    DEFAULT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DEFAULT_PATH} ({len(text):,} characters)")


if __name__ == "__main__":
    main()

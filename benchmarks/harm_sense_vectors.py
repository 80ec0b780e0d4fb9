"""The harm step's sense model with spaCy's contextual vectors beside (or in place of) its sparse
features: for each plainly written ambiguous listed word, the tok2vec row of its token
(`doc.tensor`, 96 numbers from a CNN over about 4 tokens each side, of the model the step loads
as `clean.harm.pos_model`) and the mean of the rows over its sentence
(`vector_features`).

    python benchmarks/harm_sense_vectors.py [--last-round 4|5]

Feature sets: "" (the sparse features of the shipped model), "token" (+ the word's row),
"sentence" (+ the row and the sentence mean), "dense" (the row and the sentence mean alone).
For each, the setting (vector scale, where the model reads, C, threshold) is picked by the
same 5-fold cross-validation grouped by document on dev + the training-only rows as
benchmarks/harm_sense_model.py (the lowest pooled held-out FP rate at recall >= 0.9), never
on test; test is then scored once at each picked setting, the model trained on all of dev +
training rows. The vectors are read on the tagger's window of the word (`harm._TAG_CHARS`
characters each side, as the step tags it). Deterministic. Measured and not taken
(benchmarks/README.md), so the step's code holds none of it.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT / "gold" / "harm")]

from harm_sense_model import (  # noqa: E402
    _CS,
    _SCOPES,
    _THRESHOLDS,
    _fit,
    _flags,
    _rates,
    _score,
    grouped_folds,
    model_of,
    pick_setting,
    real_sets,
)
from sense_model import collect  # noqa: E402

from stages.clean import harm as h  # noqa: E402
from stages.clean.harm_sense import SenseModel, token_features  # noqa: E402
from stages.common.params import default_params  # noqa: E402

# The dense numbers have a standard deviation of about 0.7 and the sparse ones are 0 or 1:
# the scale sets how much of the L2 penalty the vectors take beside them. Alone, the scale
# only stands in for C.
_SCALES = {"": (1.0,), "token": (0.1, 0.3, 1.0), "sentence": (0.1, 0.3, 1.0), "dense": (1.0,)}


_SENTENCE_MARKS = frozenset(".!?")


@lru_cache(maxsize=8192)
def _vectors(
    tagger: h._Tagger, window: str, start: int
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The tok2vec row of the token at `start` of `window` and the mean of the rows of its
    sentence within `window`; None when no token starts there."""
    doc = tagger.nlp(window)
    for t in doc:
        if t.idx == start:
            lo = max((u.i + 1 for u in doc[: t.i] if u.text in _SENTENCE_MARKS), default=0)
            hi = min((u.i + 1 for u in doc[t.i :] if u.text in _SENTENCE_MARKS), default=len(doc))
            return tuple(doc.tensor[t.i].tolist()), tuple(doc.tensor[lo:hi].mean(axis=0).tolist())
    return None


def vector_features(token: str, text: str, start: int, tagger: h._Tagger, vectors: str, scale: float) -> dict:
    """The word's vector ("v0".."v95") and, for "sentence" and "dense", its sentence's mean
    ("s0".."s95"), each times `scale` (the sparse features are 0 or 1)."""
    lo = max(0, start - h._TAG_CHARS)
    got = _vectors(tagger, text[lo : start + len(token) + h._TAG_CHARS], start - lo)
    if got is None:
        return {}
    row, mean = got
    f = {f"v{i}": x * scale for i, x in enumerate(row)}
    if vectors in ("sentence", "dense"):
        f.update({f"s{i}": x * scale for i, x in enumerate(mean)})
    return f


def features(vectors: str, scale: float, word, token, text, start, words, at, tagger, old=False, rule=""):
    """The sense model's features of a word (`harm._sense`'s arguments) with its vectors."""
    dense = vector_features(token, text, start, tagger, vectors, scale) if vectors else {}
    if vectors == "dense":
        return dense
    return token_features(word, token, text, start, words, at, tagger, old, rule) | dense


@dataclass(frozen=True)
class VectorSense(SenseModel):
    """The step's `SenseModel` over `features`."""

    vectors: str = ""
    scale: float = 1.0

    def sense(self, word, token, text, start, words, at, tagger, old=False):
        rule = h._sense(word, token, text, start, words, at, tagger, old)
        if word not in h._FAMILY or h._VOCATIVE.search(text[max(0, start - 40) : start]):
            return rule
        if self.scope == "counted" and rule is not None:
            return rule
        f = features(self.vectors, self.scale, word, token, text, start, words, at, tagger, old, rule)
        return "learned" if self.prob(f) < self.threshold else None


def _collect(step: h.Harm, rows: list[dict], vectors: str, scale: float) -> tuple[list[dict], list[int]]:
    """gold/harm/sense_model.py's `collect` over `features`."""
    return collect(step, rows, feature=partial(features, vectors, scale))


def _model(fit, threshold: float, scope: str, vectors: str, scale: float) -> VectorSense:
    m = model_of(*fit, threshold, scope)
    return VectorSense(m.weights, m.bias, threshold, scope, False, vectors, scale)


def cross_validate(step: h.Harm, rows: list[dict], folds: int = 5) -> dict[str, tuple]:
    """Per feature set, the picked setting (scale, scope, C, threshold) and its pooled
    held-out (FP, recall); prints every setting."""
    parts = grouped_folds(rows, folds)
    held = [r for part in parts for r in part]
    print(f"cross-validation: {len(rows)} train + dev rows, {folds} folds grouped by document")
    print(f"  the step's rules: FP {_rates(held, [f for part in parts for f in _flags(step, part)])}")
    picks = {}
    for vectors, scales in _SCALES.items():
        results = {}
        for scale in scales:
            for c in _CS:
                fits = [
                    _fit(
                        *_collect(
                            step, [r for j, p in enumerate(parts) if j != k for r in p], vectors, scale
                        ),
                        c,
                    )
                    for k in range(folds)
                ]
                for scope in _SCOPES:
                    for t in _THRESHOLDS:
                        models = [_model(fit, t, scope, vectors, scale) for fit in fits]
                        out = [f for k, part in enumerate(parts) for f in _flags(step, part, models[k].sense)]
                        results[(scale, scope, c, t)] = _score(held, out)
                        print(
                            f"  vectors={vectors or 'none'} scale={scale} scope={scope} C={c} threshold={t}: "
                            f"FP {_rates(held, out)}",
                            flush=True,
                        )
        pick = pick_setting(results)
        picks[vectors] = (pick, results[pick])
        print(
            f"  picked for vectors={vectors or 'none'}: {pick}, CV FP {results[pick][0]:.3f} / {results[pick][1]:.3f}"
        )
    return picks


def main() -> None:
    started = time.perf_counter()
    step = h.Harm(default_params("clean.harm", action="flag", sense_model=""))
    dev, train, test, last = real_sets()
    rows = dev + train
    picks = cross_validate(step, rows)
    print(f"test ({len(test)} rows), trained on dev + rounds 3-{last}, at each feature set's picked setting:")
    print(f"  the step's rules: FP {_rates(test, _flags(step, test))}")
    print("| features | scale, scope, C, threshold | CV FP / recall | test FP / recall |")
    print("|---|---|---|---|")
    for vectors, ((scale, scope, c, t), (cv_fp, cv_rec)) in picks.items():
        x, y = _collect(step, rows, vectors, scale)
        model = _model(_fit(x, y, c), t, scope, vectors, scale)
        out = _flags(step, test, model.sense)
        fp, rec = _score(test, out)
        fps = Counter(r["sense"] for r, f in zip(test, out, strict=True) if f and not r["toxic"])
        print(
            f"| {vectors or 'base (shipped)'} | {scale}, {scope}, {c}, {t} | {cv_fp:.3f} / {cv_rec:.3f} "
            f"| {fp:.3f} / {rec:.3f} |  test FPs by sense: {dict(fps.most_common())}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

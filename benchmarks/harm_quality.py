"""Harm detection quality: recall and false positives on the project's own labelled set and on
the independent real set of gold/harm/, at the params of `clean.harm`, and what each change
of the step bought.

    python benchmarks/harm_quality.py [--split test|dev|all] [--docs data/clean [--limit N] [--against REV]]

Own set: tests/data/harm_labelled.jsonl (tests/harm_fixtures.py), 150 short texts written
for this repository: 75 toxic (40 obfuscated), 75 clean (40 hand-made hard negatives).
Real set: gold/harm/hard_negatives.jsonl (innocent uses of listed words in real corpora)
and gold/harm/toxic_real.jsonl (profanity and abuse in the same corpora), labelled by
gold/harm/GUIDELINE.md; the rules were tuned on the dev split, so report the test split.

Tables: the detectors at the params' thresholds on both sets; then the ablation, one row
per change (each row adds to the one above), with the false-positive rate on the real hard
negatives, recall on both toxic sets and the step's speed on the hard negatives
(median of 3, sentences/s). With --docs, the step's speed on the first 1,000 (--limit) documents of
that parquet folder, without context, with the rules and with the sense model (median of 3,
documents/s), and the documents whose verdict the model changes; with --against,
also the step (params.yaml) at git revision REV beside this one on those documents, timed
in turns (median of 5) and checked to give the same outcomes. Deterministic but for the
speeds.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harm_fixtures import harm_rows, harm_score, real_rows  # noqa: E402

from stages.clean.harm import Harm, read  # noqa: E402
from stages.common.params import default_params  # noqa: E402

# Each change on top of the one before; the last row is params.yaml.
ABLATION = [
    ("word list + classifier > 0.9 (no context)", {"context": False, "classifier_alone_prob": 0.9}),
    ("+ sense cues: names, animal, trade, register", {"context": True, "pos_model": "", "classifier_alone_prob": 0.9}),
    ("+ spaCy POS: verb, clinical, birth senses", {"context": True, "classifier_alone_prob": 0.9}),
    ("+ classifier alone only > 0.99 or a name called", {"context": True, "classifier_alone_prob": 0.99}),
    ("+ classifier alone only > 0.999 or a name called", {"context": True, "classifier_alone_prob": 0.999}),
    ("+ classifier alone only when a name is called", {"context": True, "classifier_alone_prob": 1.0}),
    ("+ sense model (gold/harm/sense_model.py)", {"context": True, "classifier_alone_prob": 1.0, "sense_model": None}),
]  # fmt: skip
RULES = ABLATION[-2]  # the step's rules alone, for --docs


def variant(overrides: dict) -> Harm:
    """The step at params.yaml with `overrides`; a `sense_model` of None keeps params.yaml's,
    and a row that does not name it runs the rules alone."""
    over = {"sense_model": "", **overrides}
    if over["sense_model"] is None:
        del over["sense_model"]
    return Harm(default_params("clean.harm", **over))


def flagged(step: Harm, rows: list[dict]) -> list[bool]:
    outs = step.apply_batch([r["text"] for r in rows], [r.get("context") for r in rows])
    return [o.drop is not None or bool(o.info.get("flagged")) for o in outs]


def rate(flags: list[bool]) -> float:
    return sum(flags) / (len(flags) or 1)


def speed(step: Harm, rows: list[dict]) -> float:
    times = []
    for _ in range(3):
        if step.tagger is not None:
            type(step.tagger).tags.cache_clear()  # time the tagging, not the cache
        t = time.perf_counter()
        step.apply_batch([r["text"] for r in rows])
        times.append(time.perf_counter() - t)
    return len(rows) / statistics.median(times)


def against(rev: str, docs: list[str]) -> None:
    """The step of stages/clean/harm.py at git revision `rev` and this one on `docs`, timed in
    turns (median of 5, documents/s); their outcomes must be the same."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:stages/clean/harm.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("harm_at_rev", f.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules["harm_at_rev"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    cfg = default_params("clean.harm")
    steps = {rev: module.Harm(cfg), "this tree": Harm(cfg)}
    times: dict[str, list[float]] = {k: [] for k in steps}
    infos = {}
    for _ in range(5):
        for name, step in steps.items():
            if step.tagger is not None:
                type(step.tagger).tags.cache_clear()
            for fn in (getattr(module, "_name_families", None),):
                if fn is not None and hasattr(fn, "cache_clear"):
                    fn.cache_clear()
            t = time.perf_counter()
            infos[name] = [o.info for o in step.apply_batch(docs)]
            times[name].append(time.perf_counter() - t)
    same = infos[rev] == infos["this tree"]
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{len(docs)} documents, the step at {rev}: {len(docs) / medians[rev]:.0f} docs/s; this tree: "
        f"{len(docs) / medians['this tree']:.0f} docs/s ({medians[rev] / medians['this tree']:.2f}x); "
        f"same outcomes: {same}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["test", "dev", "all"], default="test")
    ap.add_argument(
        "--docs", type=Path, help="a parquet folder (data/clean) to time the step on whole documents"
    )
    ap.add_argument("--limit", type=int, default=1000, help="with --docs: the first N documents (0: all)")
    ap.add_argument("--against", metavar="REV", help="with --docs: time the step at this git revision too")
    args = ap.parse_args()
    split = args.split
    cfg = default_params("clean.harm")
    own = harm_rows()
    negatives = real_rows("hard_negatives", None if split == "all" else split)
    toxic = real_rows("toxic_real", None if split == "all" else split)
    step = Harm(cfg)
    print(
        f"own set: {len(own)} texts ({sum(r['toxic'] for r in own)} toxic); real set, {split} split: "
        f"{len(negatives)} hard negatives, {len(toxic)} toxic. Params: {cfg}"
    )

    print(f"\n{'detector (params.yaml)':<40} {'own R':>6} {'own FP':>7} {'real R':>7} {'real FP':>8}")
    plain = {
        id(r): read(
            r["text"][: cfg.max_chars],
            context=cfg.context,
            tagger=step.tagger,
            document=r.get("context"),
            sense=step.sense,
        )
        for r in own + negatives + toxic
    }
    prob = dict(zip(plain, step.predict_prob([p.plain for p in plain.values()])))
    detectors = {
        "classifier alone, raw text": None,
        "classifier alone, as the step reads it": lambda r: prob[id(r)] > cfg.max_classifier_prob,
        "word list alone, as the step reads it": lambda r: (
            plain[id(r)].hits / (plain[id(r)].words or 1) > cfg.max_wordlist_fraction
        ),
    }
    raw = dict(
        zip(map(id, own + negatives + toxic), step.predict_prob([r["text"] for r in own + negatives + toxic]))
    )
    detectors["classifier alone, raw text"] = lambda r: raw[id(r)] > cfg.max_classifier_prob
    for name, rule in detectors.items():
        s = harm_score(own, [rule(r) for r in own])
        print(
            f"{name:<40} {s.recall:>6.3f} {s.false_positives:>7} {rate([rule(r) for r in toxic]):>7.3f} "
            f"{rate([rule(r) for r in negatives]):>8.3f}"
        )
    s = harm_score(own, flagged(step, own))
    neg = flagged(step, negatives)
    print(
        f"{'the harm step':<40} {s.recall:>6.3f} {s.false_positives:>7} {rate(flagged(step, toxic)):>7.3f} {rate(neg):>8.3f}"
    )

    fresh_neg = [r for r in negatives if r.get("round") == 2]
    fresh_tox = [r for r in toxic if r.get("round") == 2]
    print(
        f"of which round 2 (plays and reviews, gold/harm/more.py): false-positive rate "
        f"{rate(flagged(step, fresh_neg)):.3f} of {len(fresh_neg)}, recall "
        f"{rate(flagged(step, fresh_tox)):.3f} of {len(fresh_tox)}"
    )

    print(f"\n{'change':<50} {'real FP':>8} {'real R':>7} {'own R':>6} {'own FP':>7} {'sent/s':>7}")
    for name, overrides in ABLATION:
        step_v = variant(overrides)
        s = harm_score(own, flagged(step_v, own))
        print(
            f"{name:<50} {rate(flagged(step_v, negatives)):>8.3f} {rate(flagged(step_v, toxic)):>7.3f} "
            f"{s.recall:>6.3f} {s.false_positives:>7} {speed(step_v, negatives):>7.0f}"
        )

    if args.docs:
        import pyarrow.parquet as pq

        docs = []
        for f in sorted(args.docs.glob("*.parquet")):
            docs += [{"text": t} for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
        docs = docs[: args.limit or None]
        verdicts = {}
        for name, overrides in (ABLATION[0], RULES, ABLATION[-1]):
            step_v = variant(overrides)
            verdicts[name] = flagged(step_v, docs)
            print(
                f"{len(docs)} documents of {args.docs}, {name}: {speed(step_v, docs):.0f} docs/s, "
                f"{sum(verdicts[name])} flagged"
            )
        rules, model = verdicts[RULES[0]], verdicts[ABLATION[-1][0]]
        print(
            f"the sense model against the rules: {sum(m and not r for r, m in zip(rules, model))} documents "
            f"flagged only with it, {sum(r and not m for r, m in zip(rules, model))} only without it"
        )
        if args.against:
            against(args.against, [d["text"] for d in docs])

    by_sense = Counter(r["sense"] for r in negatives)
    fp_sense = Counter(r["sense"] for r, f in zip(negatives, neg) if f)
    print(
        "\nharm step false positives by sense:",
        ", ".join(f"{k} {fp_sense[k]}/{n}" for k, n in sorted(by_sense.items())),
    )
    for r, f in zip(negatives, neg):
        if f:
            print(f"  FP [{r['sense']}, {r['corpus']}] {r['text'][:100]}")
    for r, f in zip(toxic, flagged(step, toxic)):
        if not f:
            print(f"  missed [{r['sense']}, {r['corpus']}] {r['text'][:100]}")


if __name__ == "__main__":
    main()

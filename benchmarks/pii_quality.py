"""PII detection quality per type: recall, precision and F1 on planted PII among decoys.

    python benchmarks/pii_quality.py [--docs 400] [--seed 1337] [--presidio PYTHON] [--methods]
    python benchmarks/pii_quality.py --seeds 11,23,42,314,2718 [--docs 400]
    python benchmarks/pii_quality.py --corpus data/raw

Two sets: "own" (tests/pii_fixtures.py, written with the rules) and "faker" (tests/
pii_faker_fixtures.py, faker values in 9 locales, independent of the rules). Every row
scores the PII step's own detections (`Pii.spans_batch`), not whether text disappeared.
`--methods` adds a table of every phone method of stages/common/pii.py on both sets, one of
the bare-digit-run reading of the combined method with each of its guards taken away, and
one of the ADDRESS detectors (rules, pyap, usaddress) on the faker set. `--seeds` scores
the faker set of each seed and prints per goal type the median and the minimum recall.
`--corpus DIR` counts the combined method's phones on real text with and without bare runs.

The set comes from tests/pii_fixtures.py: real sentences (vaderSentiment's NYT and Amazon
snippets) with PII planted at known offsets in many formats, and decoys (versions, dates,
times, hashes, ISBNs, order numbers, Luhn-invalid cards, bad-check IBANs, floats). Scoring
is span level: a detection counts when it overlaps a planted span of the same type.

Rows are printed for the clean stage's rules (stages/common/pii.py, overlaps resolved
as the pii step does) and for Presidio's analyzer (its pattern recognizers with
phonenumbers, on the spaCy model of shared/DATA_SOURCES.md) when it can run: in this
interpreter if presidio-analyzer is installed, else in the interpreter given by
`--presidio` (a separate venv, so that it cannot disturb the project's pins):

    python -m venv --system-site-packages ~/.venvs/presidio-bench
    ~/.venvs/presidio-bench/bin/pip install presidio-analyzer
    python benchmarks/pii_quality.py --presidio ~/.venvs/presidio-bench/bin/python
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pii_faker_fixtures import RULE_TYPES, decoys_left, faker_docs  # noqa: E402
from pii_fixtures import TYPES, PiiDoc, Span, misses_and_false_alarms, pii_docs, span_scores  # noqa: E402

import stages.common.pii as pii_rules  # noqa: E402
from stages.clean.pii import Pii  # noqa: E402
from stages.common.params import default_params  # noqa: E402
from stages.common.pii import PHONE_METHODS, find_addresses, find_phones_with  # noqa: E402


def rule_spans(docs: list[PiiDoc], **overrides) -> list[list[Span]]:
    """The PII step's own detections with the default params (plus `overrides`)."""
    pii = Pii(default_params("clean.pii", **{"types": TYPES, **overrides}))
    return pii.spans_batch([d.text for d in docs])


def pyap_spans(text: str) -> list[Span]:
    import pyap

    out = []
    for country in ("US", "CA", "GB"):
        for a in pyap.parse(text, country=country):
            i = text.find(a.full_address)
            if i >= 0:
                out.append((i, i + len(a.full_address), "ADDRESS"))
    return out


def usaddress_spans(text: str) -> list[Span]:
    """Runs of tokens usaddress labels as an address part (it parses, it does not search)."""
    import usaddress

    out, pos, run = [], 0, None
    for token, label in usaddress.parse(text):
        start = text.find(token, pos)
        pos = start + len(token)
        part = label not in ("Recipient", "NotAddress", "LandmarkName", "BuildingName")
        if part and run:
            run[1] = pos
        elif part:
            run = [start, pos]
        elif run:
            out.append((run[0], run[1], "ADDRESS"))
            run = None
    if run:
        out.append((run[0], run[1], "ADDRESS"))
    return [s for s in out if any(c.isdigit() for c in text[s[0] : s[1]])]


def methods_table(sets: dict[str, list[PiiDoc]]) -> None:
    regions = default_params("clean.pii").phone_regions
    print(f"\nPHONE by method (regions {', '.join(regions)}): recall / precision / decoys left; docs/s")
    for method in PHONE_METHODS:
        row = []
        for docs in sets.values():
            start = time.process_time()
            pred = [find_phones_with(d.text, regions, method) for d in docs]
            rate = len(docs) / (time.process_time() - start)
            s = span_scores(docs, pred, ["PHONE"])["PHONE"]
            row.append(f"{s.recall:.3f} / {s.precision:.3f} / {decoys_left(docs, pred)[0]:.3f}; {rate:,.0f}")
        print(f"  {method:<16}", " | ".join(f"{n}: {r}" for n, r in zip(sets, row)))
    bare_run_table(sets, regions)
    us = faker_docs(len(sets["faker"]), 1, locales=("en_US",))
    print("\nADDRESS: recall / precision / decoys left; docs/s (faker set, 9 locales | en_US only, seed 1)")
    for name, detect in (("rules", find_addresses), ("pyap", pyap_spans), ("usaddress", usaddress_spans)):
        row = []
        for docs in (sets["faker"], us):
            start = time.process_time()
            pred = [detect(d.text) for d in docs]
            rate = len(docs) / (time.process_time() - start)
            s = span_scores(docs, pred, ["ADDRESS"])["ADDRESS"]
            row.append(f"{s.recall:.3f} / {s.precision:.3f} / {decoys_left(docs, pred)[0]:.3f}; {rate:,.0f}")
        print(f"  {name:<16}", " | ".join(row))


def bare_run_table(sets: dict[str, list[PiiDoc]], regions: tuple[str, ...]) -> None:
    """The combined method's reading of bare digit runs (`_bare_phone`), each guard taken away
    in turn: what each one buys in decoys and costs in recall."""
    shipped = pii_rules._bare_phone

    def no_checksum(raw: str) -> bool:
        return raw.isdigit() and 10 <= len(raw) <= 15 and not (len(raw) == 10 and raw[0] == "1")

    def no_length_guard(raw: str) -> bool:
        return raw.isdigit() and 7 <= len(raw) <= 15 and not pii_rules.code_checksum_ok(raw)

    variants = {
        "no bare runs": lambda raw: False,
        "bare, no checksums": no_checksum,
        "bare, 7-15 digits, timestamps too": no_length_guard,
        "bare, shipped": shipped,
    }
    print("\nPHONE, combined, by its reading of bare digit runs: recall / precision / decoys left")
    try:
        for name, variant in variants.items():
            pii_rules._bare_phone = variant
            row = []
            for docs in sets.values():
                pred = [find_phones_with(d.text, regions, "combined") for d in docs]
                s = span_scores(docs, pred, ["PHONE"])["PHONE"]
                row.append(f"{s.recall:.3f} / {s.precision:.3f} / {decoys_left(docs, pred)[0]:.3f}")
            print(f"  {name:<34}", " | ".join(f"{n}: {r}" for n, r in zip(sets, row)))
    finally:
        pii_rules._bare_phone = shipped


def corpus_table(corpus: Path, regions: tuple[str, ...]) -> None:
    """PHONE spans of the combined method on a real corpus (parquet shards with a `text`
    column, e.g. data/raw), with and without the bare-run reading, and what that reading adds."""
    import pyarrow.parquet as pq

    texts = [
        t
        for f in sorted(corpus.glob("*.parquet"))
        for t in pq.read_table(f, columns=["text"]).column(0).to_pylist()
    ]
    shipped, found = pii_rules._bare_phone, {}
    try:
        for name, variant in (("without bare runs", lambda raw: False), ("shipped", shipped)):
            pii_rules._bare_phone = variant
            found[name] = {
                (i, s, e) for i, t in enumerate(texts) for s, e, _ in find_phones_with(t, regions, "combined")
            }
    finally:
        pii_rules._bare_phone = shipped
    chars = sum(map(len, texts))
    print(f"\nPHONE, combined, on {corpus}: {len(texts)} documents, {chars / 1e6:.1f} M characters")
    for name, spans in found.items():
        print(f"  {name:<18} {len(spans)} spans")
    added = sorted(found["shipped"] - found["without bare runs"])
    print(
        "  added by bare runs:",
        "; ".join(repr(texts[i][max(0, s - 25) : e]) for i, s, e in added[:20]) or "none",
    )


def seeds_table(seeds: list[int], n_docs: int) -> None:
    """Recall per goal type and decoys left on the faker set of each seed: median and minimum."""
    rows = {t: [] for t in (*RULE_TYPES, "decoys left")}
    for seed in seeds:
        docs = faker_docs(n_docs, seed)
        pred = rule_spans(docs, types=(*RULE_TYPES, "ADDRESS"))
        for t, s in span_scores(docs, pred, RULE_TYPES).items():
            rows[t].append(s.recall)
        rows["decoys left"].append(decoys_left(docs, pred)[0])
    print(f"\nfaker set, {n_docs} documents, seeds {', '.join(map(str, seeds))}: median / minimum")
    for t, values in rows.items():
        each = " ".join(f"{v:.3f}" for v in values)
        print(f"  {t:<12} {statistics.median(values):.3f} / {min(values):.3f}   ({each})")


def presidio_spans(docs: list[PiiDoc], python: str) -> list[list[Span]]:
    """Spans from benchmarks/presidio_spans.py run by `python` (a venv with presidio-analyzer)."""
    proc = subprocess.run(
        [python, str(ROOT / "benchmarks" / "presidio_spans.py")],
        input=json.dumps([d.text for d in docs]),
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"presidio run with {python} failed: {tail[0]}")
    return [[tuple(s) for s in spans] for spans in json.loads(proc.stdout)]


def report(name: str, docs: list[PiiDoc], predicted: list[list[Span]], seconds: float, types=TYPES) -> None:
    predicted = [[p for p in pred if p[2] in types] for pred in predicted]
    # PERSON is left out of the decoy figure: only Presidio's rows score it, and ours come from --person
    left, _ = decoys_left(docs, [[p for p in pred if p[2] != "PERSON"] for pred in predicted])
    print(f"\n{name}: {len(docs) / seconds:.0f} docs/s; decoys left alone {left:.3f}")
    print(f"{'type':<12} {'planted':>7} {'found':>6} {'R':>6} {'P':>6} {'F1':>6}")
    for t, s in span_scores(docs, predicted, types).items():
        print(f"{t:<12} {s.planted:>7} {s.found:>6} {s.recall:>6.3f} {s.precision:>6.3f} {s.f1:>6.3f}")
    missed, false = misses_and_false_alarms(docs, predicted, limit=5)
    if missed:
        print("  missed, e.g.:", "; ".join(f"{t} {v!r}" for v, t in missed))
    if false:
        print("  false alarms, e.g.:", "; ".join(f"{t} {v!r}" for v, t in false))


def person_table(docs: list[PiiDoc], n_prose: int = 500) -> None:
    """PERSON by person_scope: on the faker set (recall), and on corpus-like prose (the Python
    help-topic documents of benchmarks/clean_throughput.py: speed and agreement of spans)."""
    from benchmarks.clean_throughput import synthetic_docs

    prose = synthetic_docs(n_prose, 0)
    print(
        "\nPERSON by person_scope (spaCy NER): faker set R, P (P counts the carrier sentences' own "
        f"names as misses), docs/s | {n_prose} help-topic documents: docs/s, spans"
    )
    found = {}
    for scope in ("document", "candidate_sentences"):
        pii = Pii(default_params("clean.pii", types=("PERSON",), person_scope=scope))
        pii.spans_batch([d.text for d in docs[:10]])  # load and warm up outside the clock
        start = time.perf_counter()
        pred = pii.spans_batch([d.text for d in docs])
        rate = len(docs) / (time.perf_counter() - start)
        start = time.perf_counter()
        found[scope] = pii.spans_batch(prose)
        prose_rate = len(prose) / (time.perf_counter() - start)
        s = span_scores(docs, pred, ["PERSON"])["PERSON"]
        n = sum(map(len, found[scope]))
        print(
            f"  {scope:<20} R {s.recall:.3f}  P {s.precision:.3f}  {rate:,.0f} docs/s | {prose_rate:,.0f} docs/s, {n} spans"
        )
    full = {(i, *sp) for i, x in enumerate(found["document"]) for sp in x}
    gated = {(i, *sp) for i, x in enumerate(found["candidate_sentences"]) for sp in x}
    print(
        f"  help-topic spans of the whole-document run also found on candidate sentences: {len(full & gated)} of {len(full)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--presidio", metavar="PYTHON", help="interpreter of a venv with presidio-analyzer")
    ap.add_argument("--methods", action="store_true", help="phone methods and address detectors")
    ap.add_argument("--person", action="store_true", help="PERSON recall and docs/s by person_scope")
    ap.add_argument("--seeds", help="comma-separated seeds: faker-set recall per type, median and minimum")
    ap.add_argument(
        "--corpus", type=Path, help="folder of parquet shards: PHONE spans with and without bare runs"
    )
    args = ap.parse_args()
    if args.corpus:
        corpus_table(args.corpus, default_params("clean.pii").phone_regions)
        return
    if args.seeds:
        seeds_table([int(x) for x in args.seeds.split(",")], args.docs)
        return

    sets = {"own": pii_docs(args.docs, args.seed), "faker": faker_docs(args.docs, args.seed)}
    scored = {"own": TYPES, "faker": (*RULE_TYPES, "ADDRESS")}
    python = args.presidio or (sys.executable if importlib.util.find_spec("presidio_analyzer") else None)
    for name, docs in sets.items():
        print(
            f"\n== {name} set: {len(docs)} documents, {sum(len(d.spans) for d in docs)} planted PII spans, "
            f"{sum(len(d.decoys) for d in docs)} decoys; seed {args.seed}"
        )
        for method in ("rules", "combined"):
            start = time.process_time()
            ours = rule_spans(docs, types=(*RULE_TYPES, "ADDRESS"), phone_method=method)
            seconds = time.process_time() - start
            report(f"clean's pii step, phone_method {method}, ADDRESS on", docs, ours, seconds, scored[name])
        if python is not None:
            start = time.perf_counter()
            theirs = presidio_spans(docs, python)
            types = (*scored[name], "PERSON") if name == "faker" else scored[name]
            report(
                f"presidio ({python}), wall clock incl. start-up",
                docs,
                theirs,
                time.perf_counter() - start,
                types,
            )
    if python is None:
        print(
            "\npresidio: presidio-analyzer is not installed here (`pip show presidio-analyzer` "
            "finds nothing); pass --presidio PYTHON of a venv that has it"
        )
    if args.methods:
        methods_table(sets)
    if args.person:
        person_table(sets["faker"])


if __name__ == "__main__":
    main()

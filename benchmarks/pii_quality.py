"""PII detection quality per type: recall, precision and F1 on planted PII among decoys.

    python benchmarks/pii_quality.py [--docs 400] [--seed 1337] [--presidio PYTHON]

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
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pii_fixtures import TYPES, PiiDoc, Span, misses_and_false_alarms, pii_docs, span_scores  # noqa: E402

from stages.clean.pii import Pii  # noqa: E402
from stages.common.params import default_params  # noqa: E402
from stages.common.pii import resolve  # noqa: E402


def rule_spans(docs: list[PiiDoc]) -> list[list[Span]]:
    pii = Pii(default_params("clean.pii", types=TYPES))
    return [resolve(pii.rule_spans(d.text)) for d in docs]


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


def report(name: str, docs: list[PiiDoc], predicted: list[list[Span]], seconds: float) -> None:
    print(f"\n{name}: {len(docs) / seconds:.0f} docs/s")
    print(f"{'type':<12} {'planted':>7} {'found':>6} {'R':>6} {'P':>6} {'F1':>6}")
    for t, s in span_scores(docs, predicted).items():
        print(f"{t:<12} {s.planted:>7} {s.found:>6} {s.recall:>6.3f} {s.precision:>6.3f} {s.f1:>6.3f}")
    missed, false = misses_and_false_alarms(docs, predicted, limit=5)
    if missed:
        print("  missed, e.g.:", "; ".join(f"{t} {v!r}" for v, t in missed))
    if false:
        print("  false alarms, e.g.:", "; ".join(f"{t} {v!r}" for v, t in false))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--presidio", metavar="PYTHON", help="interpreter of a venv with presidio-analyzer")
    args = ap.parse_args()

    docs = pii_docs(args.docs, args.seed)
    n_decoys = sum(len(d.decoys) for d in docs)
    print(
        f"{len(docs)} documents, {sum(len(d.spans) for d in docs)} planted PII spans, "
        f"{n_decoys} decoys; seed {args.seed}"
    )
    start = time.process_time()
    ours = rule_spans(docs)
    report("clean stage rules", docs, ours, time.process_time() - start)

    python = args.presidio or (sys.executable if importlib.util.find_spec("presidio_analyzer") else None)
    if python is None:
        print(
            "\npresidio: presidio-analyzer is not installed here (`pip show presidio-analyzer` "
            "finds nothing); pass --presidio PYTHON of a venv that has it"
        )
        return
    start = time.perf_counter()
    theirs = presidio_spans(docs, python)
    report(f"presidio ({python}), wall clock incl. start-up", docs, theirs, time.perf_counter() - start)


if __name__ == "__main__":
    main()

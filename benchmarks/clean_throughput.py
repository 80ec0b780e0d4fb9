"""Throughput of the clean stage, whole chain and per step, on one core.

    python benchmarks/clean_throughput.py [PARQUET_DIR] [--repeats 3] [--docs 19600] [--person]

Reads documents from PARQUET_DIR (default data/raw when it exists), else builds a
synthetic-but-realistic corpus from the Python help topics that ship with every
interpreter (`pydoc_data.topics`): prose paragraphs of varied length, some with planted
PII, some boilerplate or repeated, sized like the datatrove reference corpus (19.6k
documents, ~550 characters each). Prints docs/s and MB/s (UTF-8 bytes of each step's
input), the median of `--repeats` runs, for:
- the configured chain (clean section of params.yaml, or defaults), and each step in it;
- the datatrove-comparable chain: Gopher repetition + Gopher quality + C4 + PII rules,
  whose datatrove equivalent does ~550 docs/s on one core of the reference machine;
- PII with and without spaCy PERSON on the first `--person-docs` documents (`--person`);
- with `--datatrove PYTHON`, datatrove's own GopherRepetitionFilter, GopherQualityFilter,
  C4QualityFilter and PIIFormatter on the same documents, run by benchmarks/datatrove_chain.py
  under PYTHON (a venv with datatrove, kept apart from the project's pins), and the ratio
  of our comparable chain's speed to theirs. Set the venv up once:

    python -m venv ~/.venvs/datatrove-bench
    ~/.venvs/datatrove-bench/bin/pip install datatrove==0.10.1 regex spacy==3.8.18
    python benchmarks/clean_throughput.py --datatrove ~/.venvs/datatrove-bench/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.clean.base import Outcome, Step  # noqa: E402
from stages.clean.chain import Chain, build_steps  # noqa: E402
from stages.clean.config import CleanParams  # noqa: E402
from stages.common.params import default_params

PII_SNIPPETS = (
    "Write to {name} at {user}@example.com for a copy.",
    "Questions go to {user} at example dot org, or call +44 20 7946 0958.",
    "The server at 10.20.30.40 answers on port 8080; version 1.2.3.4 is deployed.",
    "Payment was made with card 4111 1111 1111 1111 on 2024-01-15 at 12:30.",
    "Wire the fee to IBAN GB82 WEST 1234 5698 7654 32 before order 556677.",
)
NAMES = ("Alice Johnson", "Rahul Mehta", "Maria Garcia", "Tom Becker", "Yuki Tanaka")


def synthetic_docs(n_docs: int, seed: int) -> list[str]:
    """Documents of 1-6 help-topic paragraphs, ~8% with planted PII, ~5% repetitive."""
    from pydoc_data.topics import topics

    # Unwrap the hard-wrapped help text: web and wiki paragraphs are one line each.
    paras = [" ".join(p.split()) for t in topics.values() for p in t.split("\n\n") if len(p.split()) >= 6]
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        body = rng.sample(paras, rng.choice((1, 1, 2, 2, 3, 4, 6)))
        roll = rng.random()
        if roll < 0.08:
            snip = rng.choice(PII_SNIPPETS).format(name=rng.choice(NAMES), user=f"user{rng.randrange(999)}")
            body.insert(rng.randrange(len(body) + 1), snip)
        elif roll < 0.13:
            body = body[:1] * rng.randint(3, 6)  # scraped boilerplate repeated
        docs.append("\n\n".join(body))
    return docs


def read_docs(path: Path, limit: int) -> list[str]:
    from stages.common.io import iter_docs

    texts = []
    for d in iter_docs(path, columns=["text"]):
        texts.append(d["text"])
        if limit and len(texts) >= limit:
            break
    return texts


class Timed(Step):
    """Wrap a step to count the UTF-8 bytes it reads, outside the timed call."""

    def __init__(self, inner: Step):
        self.inner, self.name, self.bytes_in = inner, inner.name, 0

    def apply_batch(self, texts) -> list[Outcome]:
        self.bytes_in += sum(len(t.encode("utf-8")) for t in texts)
        return self.inner.apply_batch(texts)


def run_once(steps: list[Step], texts: list[str], batch: int) -> tuple[float, Chain]:
    timed = [Timed(s) for s in steps]
    chain = Chain(timed)
    docs = [{"id": str(i), "text": t, "meta": "{}"} for i, t in enumerate(texts)]
    start = time.process_time()
    for i in range(0, len(docs), batch):
        chain.run(docs[i : i + batch])
    return time.process_time() - start, chain


def line(label: str, n_docs: int, mb: float, secs: float) -> None:
    print(f"{label:<44} {n_docs / secs:>9.0f} docs/s {mb / secs:>7.2f} MB/s  ({secs:.2f} s)")


def bench(label: str, steps: list[Step], texts: list[str], repeats: int, batch: int) -> float:
    """Print the chain's and each step's speed; return the chain's median CPU seconds."""
    total_mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    runs = [run_once(steps, texts, batch) for _ in range(repeats)]
    secs = statistics.median(r[0] for r in runs)
    line(label, len(texts), total_mb, secs)
    if len(steps) > 1:
        for i, step in enumerate(steps):
            st_secs = statistics.median(r[1].stats[step.name].seconds for r in runs)
            st = runs[0][1].stats[step.name]
            mb = runs[0][1].steps[i].bytes_in / 1e6
            print(
                f"  {step.name:<42} {st.docs_in / st_secs:>9.0f} docs/s {mb / st_secs:>7.2f} MB/s"
                f"  (in {st.docs_in}, dropped {st.dropped}, changed {st.changed})"
            )
    return secs


def bench_datatrove(python: str, texts: list[str], repeats: int) -> float:
    """Run datatrove's comparable chain in `python`'s venv; print it; return median CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
        script = Path(__file__).with_name("datatrove_chain.py")
        proc = subprocess.run([python, str(script), str(path), str(repeats)], capture_output=True, text=True)
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"datatrove run with {python} failed: {tail[0]}")
    result = json.loads(proc.stdout)
    secs = statistics.median(result["seconds"])
    label = f"datatrove {result['version']}: Gopher rep + quality + C4 + PII"
    line(label, len(texts), result["bytes_in"] / 1e6, secs)
    print(f"  kept {result['docs_kept']} of {result['docs_in']}")
    return secs


def load_cfg() -> CleanParams:
    if Path("params.yaml").exists():
        from stages.common.params import load_section

        return load_section("clean")
    return default_params("clean")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", default="data/raw", help="parquet dir (default data/raw)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--docs", type=int, default=19600, help="documents (synthetic size, or read limit)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--person", action="store_true", help="also time PII with spaCy PERSON")
    ap.add_argument("--person-docs", type=int, default=2000, help="documents for the PERSON timing")
    ap.add_argument("--datatrove", metavar="PYTHON", help="interpreter of a venv with datatrove installed")
    args = ap.parse_args()
    os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")

    path = Path(args.path)
    if path.is_dir() and any(path.glob("part-*.parquet")):
        texts, what = read_docs(path, args.docs), str(path)
    else:
        texts, what = synthetic_docs(args.docs, args.seed), "synthetic (pydoc_data.topics)"
    chars = sum(map(len, texts))
    print(
        f"corpus: {what}: {len(texts)} docs, {chars / 1e6:.2f}M chars; CPU seconds of one process; median of {args.repeats}"
    )

    cfg = load_cfg()
    bench(f"configured chain {list(cfg.steps)}", build_steps(cfg), texts, args.repeats, args.batch)
    rules = dataclasses.replace(
        cfg, steps=("quality", "pii"), pii=default_params("clean.pii", types=rule_types(cfg))
    )
    ours = bench(
        "datatrove-comparable: quality + pii rules", build_steps(rules), texts, args.repeats, args.batch
    )
    if args.datatrove:
        theirs = bench_datatrove(args.datatrove, texts, args.repeats)
        print(f"ratio, ours / datatrove's speed on the same documents, one core: {theirs / ours:.2f}x")
    if args.person:
        with_person = dataclasses.replace(
            rules, steps=("pii",), pii=default_params("clean.pii", types=(*rule_types(cfg), "PERSON"))
        )
        no_person = dataclasses.replace(rules, steps=("pii",))
        subset = texts[: args.person_docs]  # spaCy is ~20x slower: time it on a subset
        bench(
            f"pii rules only ({len(subset)} docs)", build_steps(no_person), subset, args.repeats, args.batch
        )
        bench(
            f"pii rules + spaCy PERSON ({len(subset)} docs)", build_steps(with_person), subset, 1, args.batch
        )


def rule_types(cfg: CleanParams) -> tuple:
    return tuple(t for t in default_params("clean.pii").types if t != "PERSON")


if __name__ == "__main__":
    main()

"""Add each raw/* row's document context to gold/harm/*.jsonl (both sets and train.jsonl): the text of its document in
data/raw from `--chars` characters before the sentence to as many after (whitespace
collapsed, cut at word boundaries), in a `context` field. The harm step reads whole
documents, and some of its cues (older English) are document-level; the benchmark and tests
score the sentence with this context. Rows from other corpora are single sentences and get
none. Deterministic.

    python gold/harm/context.py --raw /work/main/data/raw [--chars 1500]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).parent


def window(document: str, sentence: str, chars: int) -> str | None:
    """`document` around `sentence`, or None when the sentence is not in it."""
    doc = " ".join(document.split())
    at = doc.find(sentence)
    if at < 0:
        return None
    lo, hi = max(0, at - chars), min(len(doc), at + len(sentence) + chars)
    lo = doc.find(" ", lo) + 1 if lo else 0
    hi = doc.rfind(" ", 0, hi) if hi < len(doc) else hi
    return doc[lo : max(hi, at + len(sentence))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", type=Path, required=True, help="the collected corpus (data/raw)")
    ap.add_argument("--chars", type=int, default=1500)
    args = ap.parse_args()
    docs: dict[str, str] = {}
    for f in sorted(args.raw.glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "text"])
        docs.update(zip(t.column("id").to_pylist(), t.column("text").to_pylist(), strict=True))
    for name in ("hard_negatives", "toxic_real", "train"):
        path = HERE / f"{name}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        added = 0
        for r in rows:
            r.pop("context", None)
            doc = docs.get(r["id"].rsplit("/", 1)[0]) if r["corpus"].startswith("raw/") else None
            ctx = window(doc, r["text"], args.chars) if doc else None
            if ctx and ctx != r["text"]:
                r["context"] = ctx
                added += 1
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{name}: {added} of {len(rows)} rows with context")


if __name__ == "__main__":
    main()

"""The second round of candidates for the real harm set: sentences of the collected corpus's
Shakespeare plays and Pang & Lee reviews (data/raw) that hold an ambiguous listed word and
are not yet in the set, drawn by a seeded sample. The first round (candidates.py) left these
two sources with the most false positives and misses; a fresh sample also measures the
rules on rows that nobody tuned them on. Labels are added by hand (GUIDELINE.md).

    python gold/harm/more.py --raw /work/main/data/raw > /tmp/harm_round2.jsonl

Draw A: 60 play sentences (seed 11). Draw B: 40 more play sentences and 40 review sentences
(seed 12), each over a wider word list, excluding draw A. Deterministic.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from candidates import sentences  # noqa: E402

from stages.clean.harm import _TOKEN  # noqa: E402

_A = "ass asses bastard bastards whore whores slut sluts cock cocks prick pricks damn bitch dick"
_B = _A + " pussy retarded"
_OTHER = {"docs_django", "docs_sqlalchemy", "docs_sqlalchemy_api", "emails", "dialogue", "wiki", "news"}


def pool(raw: Path, words: frozenset[str], have: set[str]) -> list[dict]:
    rows = []
    for f in sorted(raw.glob("*.parquet")):
        for r in pq.read_table(f, columns=["id", "text", "source"]).to_pylist():
            source = "reviews" if r["source"] == "reviews" else None if r["source"] in _OTHER else "books"
            if source is None:
                continue
            for n, s in enumerate(sentences(r["text"])):
                found = {m.group().lower().strip("'-").removesuffix("'s") for m in _TOKEN.finditer(s)}
                if found & words and s.lower() not in have:
                    word = sorted(found & words)[0]
                    rows.append({"text": s, "word": word, "corpus": f"raw/{source}", "id": f"{r['id']}/{n}"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", type=Path, required=True)
    args = ap.parse_args()
    have = {
        json.loads(line)["text"].lower()
        for name in ("hard_negatives", "toxic_real")
        for line in (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line).get("round", 1) == 1
    }
    books = [r for r in pool(args.raw, frozenset(_A.split()), have) if r["corpus"] == "raw/books"]
    draw_a = random.Random(11).sample(books, 60)
    have |= {r["text"].lower() for r in draw_a}
    rest = pool(args.raw, frozenset(_B.split()), have)
    rng = random.Random(12)
    draw_b = rng.sample([r for r in rest if r["corpus"] == "raw/books"], 40)
    draw_b += rng.sample([r for r in rest if r["corpus"] == "raw/reviews"], 40)
    for r in draw_a + draw_b:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""The fourth round of candidates for the real harm set, for training the step's sense model
only (`"split": "train"`): sentences of the collected corpus (data/raw) of Brown and of vaderSentiment's ground truth that hold
an ambiguous listed word, are in no earlier round and come from no document (Brown: no file; vader: no id)
that holds a test-split row (so no test sentence's neighbours are learned). Labels are added by hand
(GUIDELINE.md); this script only proposes, with each sentence's document id and sentence
number as provenance.

    python gold/harm/round4.py --raw /work/main/data/raw > /tmp/harm_round4.jsonl

Draw: a seeded shuffle (seed 17) of every such sentence, at most 60% from Shakespeare,
printed in order; label from the top in batches. Deterministic.
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

from candidates import brown, sentences, vader  # noqa: E402
from round3 import _WORDS  # noqa: E402

from stages.clean.harm import _TOKEN  # noqa: E402
from stages.common.params import read_yaml  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--n", type=int, default=1200)
    args = ap.parse_args()
    rows = [
        json.loads(line)
        for name in ("hard_negatives", "toxic_real", "train")
        for line in (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    have = {r["text"].lower() for r in rows}
    test_docs = {
        r["id"].rsplit("/", 1)[0] for r in rows if r["split"] == "test" and r["corpus"].startswith("raw/")
    }
    books, other = [], []
    for f in sorted(args.raw.glob("*.parquet")):
        for r in pq.read_table(f, columns=["id", "text", "source"]).to_pylist():
            if r["id"] in test_docs:
                continue
            for n, s in enumerate(sentences(r["text"])):
                found = {m.group().lower().strip("'-").removesuffix("'s") for m in _TOKEN.finditer(s)}
                if found & _WORDS and s.lower() not in have and len(s) < 400:
                    have.add(s.lower())
                    row = {"text": s, "word": sorted(found & _WORDS)[0], "corpus": f"raw/{r['source']}"}
                    (books if r["source"] == "books" else other).append({**row, "id": f"{r['id']}/{n}"})
    # a Brown file or a vader ground-truth id that holds a test row is left out whole
    test_files = {
        r["id"].rsplit(".", 1)[0] for r in rows if r["split"] == "test" and not r["corpus"].startswith("raw/")
    }
    pins = read_yaml(HERE.parents[1] / "sources.yaml")["pins"]
    for corpus, id_, s in [*brown(pins), *vader(pins)]:
        found = {m.group().lower().strip("'-").removesuffix("'s") for m in _TOKEN.finditer(s)}
        if (
            found & _WORDS
            and id_.rsplit(".", 1)[0] not in test_files
            and s.lower() not in have
            and len(s) < 400
        ):
            have.add(s.lower())
            other.append({"text": s, "word": sorted(found & _WORDS)[0], "corpus": corpus, "id": id_})
    rng = random.Random(17)
    rng.shuffle(books)
    rng.shuffle(other)
    n_books = min(len(books), int(args.n * 0.6))
    draw = books[:n_books] + other[: args.n - n_books]
    rng.shuffle(draw)
    for r in draw:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()

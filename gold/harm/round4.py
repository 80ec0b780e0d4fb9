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

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from candidates import brown, document_of, new_candidate, raw_candidates, vader  # noqa: E402

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
    # a document (Brown: a file; vader: a ground-truth id) that holds a test row is left out whole
    test_docs = frozenset(document_of(r) for r in rows if r["split"] == "test")
    books, other = raw_candidates(args.raw, have, test_docs)
    pins = read_yaml(HERE.parents[1] / "sources.yaml")["pins"]
    for corpus, id_, s in [*brown(pins), *vader(pins)]:
        if document_of({"corpus": corpus, "id": id_}) not in test_docs and (
            row := new_candidate(corpus, id_, s, have)
        ):
            other.append(row)
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

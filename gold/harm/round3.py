"""The third round of candidates for the real harm set, for training the step's sense model
only (`"split": "train"`): sentences of the collected corpus (data/raw) that hold an
ambiguous listed word and are in neither earlier round, drawn by a seeded sample over every
source. Labels are added by hand (GUIDELINE.md); this script only proposes.

    python gold/harm/round3.py --raw /work/main/data/raw > /tmp/harm_round3.jsonl

Draw: up to 200 sentences (seed 13), at most 120 from Shakespeare. Deterministic.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from candidates import raw_candidates  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", type=Path, required=True)
    args = ap.parse_args()
    have = {
        json.loads(line)["text"].lower()
        for name in ("hard_negatives", "toxic_real")
        for line in (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    }
    books, other = raw_candidates(args.raw, have)
    rng = random.Random(13)
    draw = rng.sample(books, min(120, len(books))) + rng.sample(
        other, min(200 - min(120, len(books)), len(other))
    )
    for r in draw:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()

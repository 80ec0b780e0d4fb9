"""Load and validate the hand-annotated NER gold set (gold/ner/test.jsonl, see its GUIDELINE.md).

One JSON object per line: {"id", "source", "genre", "text", "entities": [{"start", "end",
"label", "text"}]}, character spans that are sorted, non-overlapping, inside the text, whose slice
equals their "text", with a label among PER/ORG/LOC/MISC, and whose edges fall on spaCy
token boundaries. Any violation is a DataError naming the file, the line and the id: a
wrong gold label would silently corrupt every reported NER score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common.entities import ENTITY_TYPES
from stages.common.errors import DataError


@dataclass(frozen=True)
class GoldRecord:
    line: int
    id: str
    source: str
    genre: str  # the kind of text (news, email, ...): evaluate scores each genre apart
    text: str
    entities: tuple[tuple[int, int, str], ...]  # (start char, end char, label)


def _fail(path: Path, line: int, rid: Any, msg: str) -> DataError:
    where = f"{path} line {line}" + (f" (id {rid!r})" if rid is not None else "")
    return DataError(f"{where}: {msg}; fix the gold file (see gold/ner/GUIDELINE.md)")


def _field(obj: dict, key: str, typ: type, path: Path, line: int, rid: Any) -> Any:
    if key not in obj:
        raise _fail(path, line, rid, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, typ) or isinstance(value, bool):
        raise _fail(path, line, rid, f"field {key!r} should be {typ.__name__}, got {type(value).__name__}")
    return value


def _entity(ent: Any, text: str, path: Path, line: int, rid: str, k: int) -> tuple[int, int, str]:
    if not isinstance(ent, dict):
        raise _fail(path, line, rid, f"entity {k} is not an object")
    start = _field(ent, "start", int, path, line, rid)
    end = _field(ent, "end", int, path, line, rid)
    label = _field(ent, "label", str, path, line, rid)
    surface = _field(ent, "text", str, path, line, rid)
    if not 0 <= start < end <= len(text):
        raise _fail(
            path, line, rid, f"entity {k} span [{start}, {end}) lies outside the text (length {len(text)})"
        )
    if text[start:end] != surface:
        raise _fail(
            path, line, rid, f"entity {k} text {surface!r} != text[{start}:{end}] {text[start:end]!r}"
        )
    if label not in ENTITY_TYPES:
        raise _fail(path, line, rid, f"entity {k} label {label!r} is not one of {list(ENTITY_TYPES)}")
    return start, end, label


def parse_gold_line(raw: str, path: Path, line: int, seen: set[str]) -> GoldRecord:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _fail(path, line, None, f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise _fail(path, line, None, f"expected a JSON object, got {type(obj).__name__}")
    rid = _field(obj, "id", str, path, line, obj.get("id"))
    if rid in seen:
        raise _fail(path, line, rid, "duplicate id")
    source = _field(obj, "source", str, path, line, rid)
    genre = _field(obj, "genre", str, path, line, rid)
    if not genre.strip():
        raise _fail(path, line, rid, "empty genre")
    text = _field(obj, "text", str, path, line, rid)
    if not text.strip():
        raise _fail(path, line, rid, "empty text")
    ents = [
        _entity(e, text, path, line, rid, k)
        for k, e in enumerate(_field(obj, "entities", list, path, line, rid))
    ]
    for k in range(1, len(ents)):
        if ents[k][0] < ents[k - 1][1]:
            raise _fail(
                path,
                line,
                rid,
                f"entity {k} [{ents[k][0]}, {ents[k][1]}) overlaps or precedes entity {k - 1}",
            )
    seen.add(rid)
    return GoldRecord(line, rid, source, genre, text, tuple(ents))


def load_gold(path: str | Path) -> list[GoldRecord]:
    """Every record of the gold file, validated (token boundaries are checked by `align`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: gold NER file not found; restore it from git or set tasks.ner.gold")
    seen: set[str] = set()
    records = [
        parse_gold_line(raw, path, n, seen)
        for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if raw.strip()
    ]
    if not records:
        raise DataError(f"{path}: holds no gold records; restore it from git or set tasks.ner.gold")
    return records


def align(rec: GoldRecord, doc: Any, path: str | Path) -> list[tuple[int, int, str]]:
    """The record's entities as (first token, end token, label) on the spaCy `doc` of its text."""
    spans = []
    for k, (start, end, label) in enumerate(rec.entities):
        span = doc.char_span(start, end, alignment_mode="strict")
        if span is None:
            raise _fail(
                Path(path),
                rec.line,
                rec.id,
                f"entity {k} {rec.text[start:end]!r} [{start}, {end}) does not start and end on spaCy "
                f"token boundaries (tokens there: {[t.text for t in doc.char_span(start, end, alignment_mode='expand')]})",
            )
        spans.append((span.start, span.end, label))
    return spans

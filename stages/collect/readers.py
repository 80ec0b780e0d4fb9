"""Readers for text files: each turns one decoded file into records.

A reader is `fn(text, where, src, tally)` and yields `(text, record, meta)`: the document
text, its record index inside the file (appended to the origin as `#record`) and a meta
dict. Bad records are counted with `tally.skip`. In the readers of many records a file
(csv, jsonl) the work on each record runs inside `tally.record(...)`, so that an unexpected
error (a line nested too deeply for the JSON parser, say) skips that record alone; in the
others an unexpected error skips the rest of its file (`collect.guard_file`).
Readers that need raw bytes are in web.py (warc, html, mediawiki, email) and registry.py (parquet).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from stages.collect.config import SourceParams
from stages.collect.docs import Tally

Record = tuple[str, str, dict[str, Any]]


def read_lines(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per non-blank line (the line number is the record)."""
    for i, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield line, str(i), {}


def read_text(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """The whole file is one document (e.g. a page of documentation)."""
    yield text.strip(), "0", {}


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BOLD = re.compile(r"(\*\*|__)(.+?)\1")
_ITALIC = re.compile(r"(?<![\w*])([*_])(?!\s)(.+?)(?<!\s)\1(?![\w*])")


def _plain_markdown(line: str) -> str:
    # Markdown line breaks are two trailing spaces; emphasis marks carry no words.
    return _ITALIC.sub(r"\2", _BOLD.sub(r"\2", line.rstrip()))


def read_markdown(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per section at `heading_level` or above (for the plays: one per scene).

    Each document starts with its heading path (play, act, scene), so a scene read alone
    still says where it comes from; sections with no body text of their own are folded
    into the path of the next one.
    """
    path: list[tuple[int, str]] = []
    body: list[str] = []
    index = 0

    def flush() -> Iterator[Record]:
        nonlocal index
        content = "\n".join(body).strip()
        if content:
            heads = [h for _, h in path]
            yield "\n".join([*heads, "", content]), str(index), {"section": " / ".join(heads)}
            index += 1
        body.clear()

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m and len(m.group(1)) <= src.heading_level:
            yield from flush()
            level = len(m.group(1))
            path = [(lv, h) for lv, h in path if lv < level] + [(level, _plain_markdown(m.group(2)))]
        else:
            body.append(_plain_markdown(line))
    yield from flush()


def read_chatterbot_yaml(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """A chatterbot-corpus YAML file is one dialogue document: one turn a line, a blank line
    between conversations (each conversation alone is too short to be a document)."""
    import yaml

    # The C loader, where libyaml is present, is several times faster than the pure one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        tally.skip("bad_yaml", where, f"not valid YAML ({str(e).splitlines()[0]})")
        return
    convs = data.get("conversations") if isinstance(data, dict) else None
    if not isinstance(convs, list):
        tally.skip("missing_text", where, "no `conversations` list")
        return
    blocks = []
    for i, conv in enumerate(convs):
        turns = conv if isinstance(conv, list) else None
        if not turns or not all(isinstance(t, str | int | float) for t in turns):
            tally.skip("bad_record", f"{where} conversation {i}", "not a list of text turns")
            continue
        blocks.append("\n".join(str(t).strip() for t in turns))
    cats = data.get("categories") or []
    yield "\n\n".join(blocks), "0", {"categories": [str(c) for c in cats], "conversations": len(blocks)}


def html_value(value: str, src: SourceParams) -> str | None:
    """The main text of `value` when html_text is on and it looks like HTML, else `value`."""
    if src.html_text and re.search(r"<(html|body|div|p|br|table|font)\b", value[:2000], re.I):
        from stages.collect.web import html_to_text

        return html_to_text(value)
    return value


def read_csv(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per row; `text_field` names the text column, `meta_fields` the kept ones."""
    csv.field_size_limit(sys.maxsize)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = list(src.csv_columns) if not src.csv_header else next(rows)
    except (StopIteration, csv.Error):
        return
    if src.text_field not in header:
        tally.skip("missing_text", where, f"no column {src.text_field!r}; columns are {header}")
        return
    col = header.index(src.text_field)
    meta_cols = [(f, header.index(f)) for f in src.meta_fields if f in header]
    for i, row in enumerate(rows, start=1):
        rec = f"{where} row {i}"
        if len(row) <= col:
            tally.skip("missing_text", rec, f"row has {len(row)} columns, the text is column {col + 1}")
            continue
        with tally.record(rec):
            value = html_value(row[col], src)
            if value is None:
                tally.skip("no_main_text", rec, "HTML value has no extractable main text")
                continue
            yield value.strip(), str(i), {f: row[c] for f, c in meta_cols if c < len(row)}


def read_jsonl(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per JSON line; a record's own `id` is kept in meta as `record_id`."""
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            with tally.record(f"{where} line {i}"):
                yield from _jsonl_record(line, i, f"{where} line {i}", src, tally)


def _jsonl_record(line: str, i: int, rec: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        tally.skip("bad_json", rec, f"not valid JSON ({e.msg} at column {e.colno})")
        return
    if not isinstance(obj, dict):
        tally.skip("bad_json", rec, f"expected a JSON object, got {type(obj).__name__}")
        return
    value = obj.get(src.text_field)
    if value is None:
        tally.skip("missing_text", rec, f"no field {src.text_field!r}")
        return
    if not isinstance(value, str):
        tally.skip(
            "non_string_text", rec, f"field {src.text_field!r} is a {type(value).__name__}, not a string"
        )
        return
    value = html_value(value, src)
    if value is None:
        tally.skip("no_main_text", rec, "HTML value has no extractable main text")
        return
    meta = {f: obj[f] for f in src.meta_fields if f in obj}
    if "id" in obj:
        meta["record_id"] = obj["id"]
    yield value.strip(), str(i), meta


def read_python_docstrings(text: str, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per Python module: its docstring, then each documented class and
    function as `qualified.name` followed by its docstring (API reference prose)."""
    import ast

    from stages.common.docstrings import module_docstrings

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as e:
        tally.skip("bad_python", where, f"not parseable Python ({e})")
        return
    parts = module_docstrings(tree)
    yield "\n\n".join(parts), "0", {"docstrings": len(parts)}

"""Which reader reads a file: the registry of readers, inference from the file name, and
the parquet reader (which, like the web readers, takes bytes)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

from stages.collect import readers, web
from stages.collect.config import SourceParams
from stages.collect.docs import Tally, describe_error
from stages.collect.readers import Record
from stages.common.errors import DataError


def read_parquet(data: bytes, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per row of a parquet file; `text_field` names the column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as e:
        tally.skip("bad_file", where, f"not a readable parquet file ({e})")
        return
    if pf.metadata.num_rows == 0:
        tally.skip("empty_file", where, "parquet file has no rows")
        return
    names = pf.schema_arrow.names
    if src.text_field not in names:
        tally.skip("missing_text", where, f"no column {src.text_field!r}; columns are {names}")
        return
    cols = [src.text_field, *[f for f in (*src.meta_fields, "id") if f in names and f != src.text_field]]
    i = 0
    # Row group by row group: a damaged group loses its own rows, not the groups after it;
    # damaged meta columns lose the meta, not the text.
    for group in range(pf.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        rows = _row_group(pf, group, list(dict.fromkeys(cols)), f"{where} row group {group}", tally)
        if rows is None:
            i += n
            continue
        for row in rows:
            i += 1
            value = row.get(src.text_field)
            if not isinstance(value, str):
                tally.skip(
                    "non_string_text", f"{where} row {i}", f"{src.text_field!r} is {type(value).__name__}"
                )
                continue
            meta: dict[str, Any] = {f: row[f] for f in src.meta_fields if f in row}
            if "id" in row and src.text_field != "id":
                meta["record_id"] = row["id"]
            yield value.strip(), str(i), meta


def _row_group(pf, group: int, cols: list[str], where: str, tally: Tally) -> list[dict[str, Any]] | None:
    """The rows of one row group; its text column alone when a meta column is damaged;
    None (a counted skip) when the text column is."""
    try:
        return pf.read_row_group(group, columns=cols).to_pylist()
    except Exception as e:  # pyarrow raises several types on damaged pages
        error = describe_error(e)
    if len(cols) > 1:
        try:
            rows = pf.read_row_group(group, columns=cols[:1]).to_pylist()
        except Exception as e:
            error = describe_error(e)
        else:
            tally.repair("meta_lost", where, f"meta columns {cols[1:]} unreadable ({error}); text kept")
            return rows
    tally.skip("bad_row_group", where, f"{pf.metadata.row_group(group).num_rows} rows lost: {error}")
    return None


# name -> (reader, takes_bytes). Text readers get the file decoded by decode_text.
READERS: dict[str, tuple[Callable[..., Iterator[Record]], bool]] = {
    "lines": (readers.read_lines, False),
    "text": (readers.read_text, False),
    "markdown": (readers.read_markdown, False),
    "chatterbot_yaml": (readers.read_chatterbot_yaml, False),
    "csv": (readers.read_csv, False),
    "jsonl": (readers.read_jsonl, False),
    "python_docstrings": (readers.read_python_docstrings, False),
    "parquet": (read_parquet, True),
    "html": (web.read_html, True),
    "warc": (web.read_warc, True),
    "mediawiki": (web.read_mediawiki, True),
    "email": (web.read_email, True),
}

BY_SUFFIX = {
    ".txt": "text",
    ".rst": "text",
    ".md": "markdown",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".html": "html",
    ".htm": "html",
    ".warc": "warc",
    ".xml": "mediawiki",
    ".eml": "email",
    ".mbox": "email",
    ".yml": "chatterbot_yaml",
    ".yaml": "chatterbot_yaml",
}


def pick_reader(src: SourceParams, name: str) -> str:
    """The source's reader, or for `auto` the one its (decompressed) file name implies."""
    if src.reader != "auto":
        return src.reader
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in BY_SUFFIX:
        raise DataError(
            f"{name}: cannot tell the reader from the suffix {suffix or '(none)'!r} (source {src.name}); "
            f"set reader: to one of {sorted(READERS)}"
        )
    return BY_SUFFIX[suffix]

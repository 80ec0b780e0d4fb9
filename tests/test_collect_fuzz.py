"""Property-based fuzzing of the collect readers (hypothesis).

Each case builds a valid file with the format's real writer (json, csv, warcio, pyarrow,
email.message, ...), corrupts it at random inside one record (truncation, flipped or
inserted bytes, NUL, BOM, lone surrogate escapes and bytes, deep nesting, one enormous line,
a record of the wrong type) and runs the collect stage on it beside an untouched file of the
same format. Three properties hold for every reader: collect never raises, no text, meta or
origin holds a lone surrogate, NUL or BOM, and every record the corruption left intact is
kept, as is every record of the untouched file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from collect_fixtures import run, warc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROSE = [
    "Die Straßenbahn fährt über die Brücke, während die Möwen über dem Fluss kreisen.",
    "L'été dernier, nous sommes allés à la mer ; les élèves étaient ravis de découvrir la côte.",
    "Am Ufer grüßen sich die Nachbarn, und der Bäcker öffnet schon früh seinen Laden.",
    "Le château, bâti au XIIᵉ siècle, domine la vallée où serpente une rivière paisible.",
    "Für die Prüfung übten die Schüler täglich, bis spät in die Nacht, mit großer Mühe.",
]
N = 5
MAX_CHARS = 200_000  # the enormous record is longer, so it is skipped as too_long
FORBIDDEN = re.compile("[\x00\ufeff\ud800-\udfff]")


def record_text(i: int, tag: str) -> str:
    return f"{tag} record {i}. {PROSE[i % len(PROSE)]} {PROSE[(i + 2) % len(PROSE)]}"


@dataclass(frozen=True)
class Format:
    """A reader under test: how to write a valid file and which records a corruption spares."""

    name: str
    suffix: str
    build: Callable[[str], tuple[bytes, list[tuple[int, int]]]]  # tag -> bytes, byte span of each record
    intact: str  # "others": all records but the corrupted one; "before": those before it; "none"
    wrong: bytes = b""  # a record of the wrong type, replacing the corrupted record's bytes


def _join(pieces: list[bytes], head: bytes = b"", tail: bytes = b"") -> tuple[bytes, list[tuple[int, int]]]:
    out, spans = bytearray(head), []
    for p in pieces:
        spans.append((len(out), len(out) + len(p)))
        out += p
    return bytes(out + tail), spans


def build_jsonl(tag: str):
    data, spans = _join(
        [json.dumps({"id": i, "text": record_text(i, tag)}).encode() + b"\n" for i in range(N)]
    )
    # The newline belongs to no record: damage to it joins two lines, which spares neither.
    return data, [(start, end - 1) for start, end in spans]


def build_csv(tag: str):
    def row(values: list[str]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf).writerow(values)
        return buf.getvalue().encode()

    return _join([row(["neutral", record_text(i, tag)]) for i in range(N)], head=row(["label", "text"]))


def build_text(tag: str):
    data = "\n\n".join(record_text(i, tag) for i in range(N)).encode()
    return data, [(0, len(data))]


def build_html(tag: str):
    body = "".join(f"<p>{record_text(i, tag)}</p>" for i in range(N))
    data = f"<html><head><title>{tag}</title></head><body><article>{body}</article></body></html>".encode()
    return data, [(0, len(data))]


def _page(i: int, tag: str) -> bytes:
    return (
        f"<html><body><article>{('<p>' + record_text(i, tag) + '</p>') * 3}</article></body></html>".encode()
    )


def build_warc(tag: str):
    return _join(
        [warc([(f"http://{tag}.example/{i}", "text/html; charset=utf-8", _page(i, tag))]) for i in range(N)]
    )


def build_mediawiki(tag: str):
    from xml.sax.saxutils import escape

    pages = [
        f"<page><title>{tag} {i}</title><ns>0</ns><id>{i}</id><revision><text>"
        f"{escape(record_text(i, tag))} [[Link|linked words]].</text></revision></page>\n".encode()
        for i in range(N)
    ]
    head = b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">\n'
    return _join(pages, head=head, tail=b"</mediawiki>\n")


def build_email(tag: str):
    from email.message import EmailMessage

    pieces = []
    for i in range(N):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "ann@example.org", "bob@example.org", f"{tag} {i}"
        msg.set_content(record_text(i, tag), cte="8bit")
        pieces.append(msg.as_bytes())
    out, spans = bytearray(), []
    for p in pieces:
        out += b"From ann@example.org Mon Jan  1 00:00:00 2001\n"
        spans.append((len(out), len(out) + len(p)))
        out += p + b"\n"
    return bytes(out), spans


def build_parquet(tag: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    table = pa.table({"id": [str(i) for i in range(N)], "text": [record_text(i, tag) for i in range(N)]})
    pq.write_table(table, buf, row_group_size=1)  # one row a group: damage stays local
    data = buf.getvalue()
    return data, [(4, len(data) - 8)] * N  # data pages lie between the magic and the footer


FORMATS = [
    Format("jsonl", ".jsonl", build_jsonl, "others", wrong=b'{"text": 12345, "id": [1, 2]}\n'),
    Format("csv", ".csv", build_csv, "before", wrong=b"only_a_label\r\n"),
    Format("text", ".txt", build_text, "none"),
    Format("html", ".html", build_html, "none"),
    Format("warc", ".warc", build_warc, "before"),
    Format("parquet", ".parquet", build_parquet, "parquet"),
    Format("mediawiki", ".xml", build_mediawiki, "before"),
    Format("email", ".mbox", build_email, "others"),
]

KINDS = [
    "truncate",
    "flip",
    "insert",
    "nul",
    "bom",
    "surrogate_escape",
    "surrogate_bytes",
    "deep",
    "enormous",
    "wrong",
]
DEEP = {"jsonl": b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"}


def corrupt(fmt: Format, data: bytes, span: tuple[int, int], kind: str, at: float, noise: bytes) -> bytes:
    """`data` with one corruption of `kind` at the fraction `at` of the record's byte span."""
    start, end = span
    pos = start + int(at * (end - start))
    insert = {
        "insert": noise,
        "nul": b"\x00",
        "bom": "\ufeff".encode(),
        "surrogate_escape": b"\\ud800",
        "surrogate_bytes": "\ud800".encode("utf-8", "surrogatepass"),
        "deep": b"<b>[" * 20_000,
        "enormous": b"x" * (MAX_CHARS + 100_000),
    }
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        return (
            data[:pos] + bytes([data[pos] ^ (noise[0] or 1)]) + data[pos + 1 :] if pos < len(data) else data
        )
    if kind == "deep" and fmt.name in DEEP:
        return data[:start] + DEEP[fmt.name] + data[end:]
    if kind == "wrong" and fmt.wrong:
        return data[:start] + fmt.wrong + data[end:]
    return data[:pos] + insert.get(kind, b"") + data[pos:]


def intact_records(fmt: Format, data: bytes, k: int, kind: str) -> set[int]:
    """Indices of the records the corruption of record `k` left intact."""
    if fmt.intact == "parquet":
        return _parquet_rows_intact(data)
    if fmt.intact == "none":
        return set()
    before = set(range(k))
    return before if fmt.intact == "before" or kind == "truncate" else set(range(N)) - {k}


def _parquet_rows_intact(data: bytes) -> set[int]:
    """Rows whose row group pyarrow itself still reads back with the text as written."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
    except Exception:
        return set()
    kept = set()
    for i in range(pf.num_row_groups):
        try:
            rows = pf.read_row_group(i, columns=["text"]).to_pylist()
        except Exception:
            continue
        if rows == [{"text": record_text(i, "poisoned")}]:
            kept.add(i)
    return kept


def source(fmt: Format, path: Path, name: str) -> dict:
    reader = {"text": "text"}.get(fmt.name, "auto")
    return {
        "name": name,
        "kind": "local",
        "path": str(path),
        "license": "t",
        "reader": reader,
        "max_chars": MAX_CHARS,
    }


def check(fmt: Format, kind: str, k: int, at: float, noise: bytes) -> None:
    clean, spans = fmt.build("poisoned")
    k = min(k, len(spans) - 1)
    bad = corrupt(fmt, clean, spans[k], kind, at, noise)
    good, _ = fmt.build("good")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / f"poisoned{fmt.suffix}").write_bytes(bad)
        (tmp / f"good{fmt.suffix}").write_bytes(good)
        (tmp / f"baseline{fmt.suffix}").write_bytes(clean)
        docs, m = run(  # property 1: no exception escapes
            tmp,
            [
                source(fmt, tmp / f"poisoned{fmt.suffix}", "poisoned"),
                source(fmt, tmp / f"good{fmt.suffix}", "good"),
                source(fmt, tmp / f"baseline{fmt.suffix}", "baseline"),
            ],
        )
    for d in docs:  # property 2
        for column in ("text", "meta", "origin"):
            assert not FORBIDDEN.search(d[column]), f"{column} of {d['origin']} holds a forbidden character"
            assert not FORBIDDEN.search(json.dumps(json.loads(d["meta"]), ensure_ascii=False))
    by_source: dict[str, list[str]] = {}
    for d in docs:
        by_source.setdefault(d["source"], []).append(d["text"])
    baseline, good_texts = by_source.get("baseline", []), by_source.get("good", [])
    assert len(baseline) == len(spans) == len(good_texts), "the uncorrupted files lost a record"
    kept = set(by_source.get("poisoned", []))
    # The baseline source is the poisoned file before its corruption: its documents, in
    # record order, are what the intact records must still give.
    expected_texts = {baseline[i] for i in intact_records(fmt, bad, k, kind)}
    assert expected_texts <= kept, f"intact records lost: {sorted(expected_texts - kept)}"
    assert m["sources"]["good"]["skipped_total"] == 0 and m["sources"]["good"]["repaired"] == {}


# One corruption: its kind, the record it hits, where in the file, and the bytes it uses.
CORRUPTIONS = {
    "kind": st.sampled_from(KINDS),
    "k": st.integers(0, N - 1),
    "at": st.floats(0, 1, exclude_max=True),
    "noise": st.binary(min_size=1, max_size=8),
}


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
@settings(
    max_examples=40,
    deadline=10_000,  # ms; one example parses a 300 kB record at most
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(**CORRUPTIONS)
def test_every_reader_survives_corruption_and_keeps_the_intact_records(fmt, kind, k, at, noise):
    check(fmt, kind, k, at, noise)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(**CORRUPTIONS)
def test_every_reader_survives_corruption_long_run(fmt, kind, k, at, noise):
    check(fmt, kind, k, at, noise)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
@pytest.mark.parametrize("kind", KINDS)
def test_each_corruption_at_the_middle_of_the_middle_record(fmt, kind):
    """Every kind on every reader at least once, whatever hypothesis draws."""
    check(fmt, kind, N // 2, 0.5, b"\xff\xfe<\"'\n")

"""Readers for markup and archives: HTML (trafilatura), WARC (fastwarc), MediaWiki XML
dumps (mwparserfromhell) and e-mail (the standard library's parser). They take bytes,
since these formats declare their own encodings."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from stages.collect.charset import charset_from_header
from stages.collect.config import SourceParams
from stages.collect.decode import decode_text, looks_binary
from stages.collect.docs import Tally
from stages.collect.readers import Record

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


def html_to_text(html: str) -> str | None:
    """The main text of an HTML page (boilerplate removed), or None when there is none."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=True, deduplicate=False)


def _title(data: bytes) -> str:
    m = _TITLE.search(data[:65536])
    return m.group(1).decode("utf-8", "replace").strip() if m else ""


def read_html(data: bytes, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per HTML page: its main text, decoded in the charset its BOM or meta
    tag declares, else the detected one."""
    text = html_to_text(decode_text(data, where, tally, html=True))
    if not text:
        tally.skip("no_main_text", where, "trafilatura found no main text in the page")
        return
    yield text, "0", {"title": _title(data)}


_TEXTUAL = ("text/html", "application/xhtml+xml", "text/plain")


def read_warc(data: bytes, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per WARC response record with an HTML (or plain text) payload.

    A response whose HTTP status is not 2xx (a 404 page, a redirect) is skipped as
    http_status; other payloads (images, PDFs, binaries) are skipped and counted as
    binary_payload; a record cut short by a truncated file is skipped as truncated_record.
    The charset is the Content-Type header's, else the BOM's, else the meta tag's, else the
    detected one (stages/collect/charset.py).
    """
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    records = ArchiveIterator(io.BytesIO(data), record_types=WarcRecordType.response, parse_http=True)
    i = -1
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except Exception as e:  # fastwarc raises its own parse errors on damaged input
            tally.skip("truncated_file", where, f"WARC parsing stopped after record {i}: {e}")
            break
        i += 1
        rec = f"{where} record {i}"
        with tally.record(rec):
            yield from _warc_record(record, i, rec, len(data), tally)


def _warc_record(record, i: int, rec: str, size: int, tally: Tally) -> Iterator[Record]:
    uri = record.headers.get("WARC-Target-URI", "")
    payload = record.reader.read()
    if _cut_off(record, payload, size):
        tally.skip("truncated_record", rec, f"{uri}: payload ends early (file truncated)")
        return
    http = record.http_headers
    status = http.status_code if http else None
    if status is not None and not 200 <= status < 300:
        tally.skip("http_status", rec, f"{uri}: HTTP status {status}, not a page the server sent as such")
        return
    ctype = (http.get("Content-Type", "") if http else "").lower()
    if not ctype.startswith(_TEXTUAL) or looks_binary(payload):
        tally.skip("binary_payload", rec, f"{uri}: {ctype or 'no content type'} is not an HTML page")
        return
    meta = {"url": uri, "warc_date": record.headers.get("WARC-Date", ""), "content_type": ctype}
    declared = charset_from_header(ctype)
    if ctype.startswith("text/plain"):
        text = decode_text(payload, rec, tally, declared=declared)
    else:
        text = html_to_text(decode_text(payload, rec, tally, declared=declared, html=True))
        meta["title"] = _title(payload)
    if not text:
        tally.skip("no_main_text", rec, f"{uri}: no main text in the page")
        return
    yield text, str(i), meta


def _cut_off(record, payload: bytes, size: int) -> bool:
    """True for a record cut off by a truncated file: its WARC headers end early (no
    Content-Length), its block runs past the end of the file, or its body is shorter
    than its HTTP headers promise (when the cut falls in the last bytes)."""
    if record.headers.get("Content-Length") is None:
        return True
    return record.stream_pos + record.content_length > size or len(payload) < _payload_length(record)


def _payload_length(record) -> int:
    """Bytes the record's headers promise for its HTTP body (Content-Length minus HTTP headers)."""
    http = record.http_headers
    declared = http.get("Content-Length") if http else None
    try:
        return int(declared) if declared is not None else 0
    except ValueError:
        return 0


_DROP_LINK = re.compile(r"^(file|image|category|media|[a-z]{2,3}(-[a-z]+)?):", re.I)
_DROP_TAGS = {"ref", "gallery", "math", "timeline", "imagemap", "score"}
_BLANKS = re.compile(r"\n{3,}")
_TAIL_SECTIONS = re.compile(
    r"^\s*=+\s*(references|external links|see also|notes|further reading)\s*=+\s*$", re.I | re.M
)


def wikitext_to_text(wikitext: str) -> str:
    """Plain text of an article: templates, refs, tables and file/category links removed,
    and the trailing reference sections (References, External links, ...) dropped."""
    import mwparserfromhell
    from mwparserfromhell.nodes import Tag, Wikilink

    m = _TAIL_SECTIONS.search(wikitext)
    code = mwparserfromhell.parse(wikitext[: m.start()] if m else wikitext)

    def keep(node) -> bool:
        if isinstance(node, Wikilink):
            return not _DROP_LINK.match(str(node.title).strip())
        # References, galleries and formulas do not read as prose once their markup is gone.
        return not (isinstance(node, Tag) and str(node.tag).strip().lower() in _DROP_TAGS)

    # Filtering the top-level node list is linear; Wikicode.remove() searches the whole tree.
    code.nodes = [n for n in code.nodes if keep(n)]
    text = code.strip_code(normalize=True, collapse=True)
    lines = [ln.strip() for ln in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(ln for ln in lines if not ln.startswith(("thumb|", "|")))).strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_mediawiki(data: bytes, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per article page of a MediaWiki XML export; redirects and pages outside
    the main namespace are skipped and counted."""
    import xml.etree.ElementTree as ET

    i = -1
    try:
        for _, elem in ET.iterparse(io.BytesIO(data), events=("end",)):
            if _local(elem.tag) != "page":
                continue
            i += 1
            page = {_local(c.tag): c for c in elem}
            title = (page["title"].text or "") if "title" in page else ""
            ns = (page["ns"].text or "0").strip() if "ns" in page else "0"
            rev = page.get("revision")
            body = next((c.text or "" for c in rev if _local(c.tag) == "text"), "") if rev is not None else ""
            elem.clear()
            rec = f"{where} page {i} ({title})"
            if "redirect" in page or body.lstrip().lower().startswith("#redirect"):
                tally.skip("redirect", rec, "redirect page")
            elif ns != "0":
                tally.skip("non_article_namespace", rec, f"namespace {ns} is not an article")
            else:
                pid = (page["id"].text or "").strip() if "id" in page else ""
                with tally.record(rec):
                    yield f"{title}\n\n{wikitext_to_text(body)}", str(i), {"title": title, "page_id": pid}
    except ET.ParseError as e:
        tally.skip("truncated_file", where, f"XML ends early or is malformed after page {i} ({e})")


DEFAULT_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")
_MBOX_SPLIT = re.compile(rb"^From \S+.*\r?\n", re.M)


def read_email(data: bytes, where: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    """One document per message (a single RFC 822 file or an mbox): the body is the text,
    selected headers (`meta_fields`, default From/To/Subject/Date/Message-ID) go to meta."""
    msgs = [m for m in _MBOX_SPLIT.split(data) if m.strip()] if data.startswith(b"From ") else [data]
    for i, raw in enumerate(msgs):
        with tally.record(f"{where} message {i}"):
            yield from _message(raw, i, f"{where} message {i}", src, tally)


# The standard library's header parser takes time that grows faster than linearly with a
# header's length (minutes for 80 kB of brackets); RFC 5322 caps a line at 998 bytes, and
# real headers (References in a long thread) stay well under this.
MAX_HEADER_BYTES = 8192
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"^(?=[^ \t\r\n])", re.M)


def _drop_long_headers(raw: bytes, rec: str, tally: Tally) -> bytes:
    """`raw` without the header fields longer than MAX_HEADER_BYTES (counted as a repair)."""
    end = _HEAD_END.search(raw)
    head, rest = (raw[: end.start()], raw[end.start() :]) if end else (raw, b"")
    if len(head) <= MAX_HEADER_BYTES:
        return raw
    fields = [f for f in _FIELD_START.split(head) if f]
    kept = [f for f in fields if len(f) <= MAX_HEADER_BYTES]
    if len(kept) < len(fields):
        dropped = [
            f.split(b":", 1)[0][:40].decode("ascii", "replace") for f in fields if len(f) > MAX_HEADER_BYTES
        ]
        tally.repair("long_header", rec, f"header fields over {MAX_HEADER_BYTES} bytes dropped: {dropped}")
    return b"".join(kept) + rest


def _message(raw: bytes, i: int, rec: str, src: SourceParams, tally: Tally) -> Iterator[Record]:
    from email import policy
    from email.parser import BytesParser

    msg = BytesParser(policy=policy.default).parsebytes(_drop_long_headers(raw, rec, tally))
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        tally.skip("missing_text", rec, "no text/plain or text/html body")
        return
    try:
        body = part.get_content()
    except (LookupError, ValueError) as e:
        tally.skip("bad_record", rec, f"body cannot be decoded ({e})")
        return
    if part.get_content_subtype() == "html":
        body = html_to_text(body) or ""
    names = src.meta_fields or DEFAULT_HEADERS
    meta = {h.lower(): str(msg[h]) for h in names if msg[h] is not None}
    yield body.strip(), str(i), meta

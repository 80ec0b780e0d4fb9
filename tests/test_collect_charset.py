"""Charsets: what the input declares (HTTP header, BOM, meta tag) wins, in that order, and
undeclared bytes are detected, so German and French prose in ISO-8859-1 or cp1252 reads as
written instead of as UTF-8 full of U+FFFD."""

from __future__ import annotations

import json

import pytest
from collect_fixtures import local, run, warc

from stages.collect.charset import charset_from_header, charset_from_meta, detect, known_codec, mostly_utf8

GERMAN = (
    "Die Straßenbahn fährt über die Brücke, während die Möwen über dem Fluss kreisen. "
    "Am Ufer grüßen sich die Nachbarn, und der Bäcker öffnet schon früh seinen Laden."
)
FRENCH = (
    "L'été dernier, nous sommes allés à la mer ; les élèves étaient ravis de découvrir "
    "les châteaux de sable et les crêpes préparées par leur hôtesse à Noël."
)
# cp1252 beyond Latin-1: curly quotes, an en dash and the euro sign (bytes 0x80-0x9F).
CP1252_ONLY = "„Das kostet 5 € – oder?“ fragte sie. «Ça coûte cher», répondit-il."


def page(body: str, head: str = "") -> str:
    return (
        f"<html><head>{head}<title>Seite</title></head><body><article>"
        + f"<p>{body}</p>" * 3
        + "</article></body></html>"
    )


def test_an_iso_8859_1_page_declared_in_header_and_meta_reads_as_written(tmp_path):
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    payload = page(GERMAN, meta).encode("iso-8859-1")
    (tmp_path / "c.warc.gz").write_bytes(
        warc([("http://de.example/", "text/html; charset=ISO-8859-1", payload)], gzip=True)
    )
    docs, m = run(tmp_path, [local(tmp_path / "c.warc.gz")])
    assert GERMAN in docs[0]["text"] and "\ufffd" not in docs[0]["text"]
    assert m["sources"]["src"]["repaired"] == {} and m["sources"]["src"]["charsets"] == {"cp1252": 1}


def test_the_http_header_wins_over_the_meta_tag_and_the_meta_tag_over_detection(tmp_path):
    wrong_meta = '<meta charset="utf-8">'
    records = [
        # The header is right, the meta tag wrong: the header wins.
        ("http://a.example/1", "text/html; charset=windows-1252", page(FRENCH, wrong_meta).encode("cp1252")),
        # No header charset: the meta tag is read.
        (
            "http://a.example/2",
            "text/html",
            page(GERMAN, '<meta charset="iso-8859-15">').encode("iso-8859-15"),
        ),
        # Nothing declared: detected.
        ("http://a.example/3", "text/html", page(CP1252_ONLY + " " + FRENCH).encode("cp1252")),
    ]
    (tmp_path / "c.warc.gz").write_bytes(warc(records, gzip=True))
    docs, m = run(tmp_path, [local(tmp_path / "c.warc.gz")])
    assert [FRENCH in docs[0]["text"], GERMAN in docs[1]["text"], CP1252_ONLY in docs[2]["text"]] == [
        True
    ] * 3
    assert m["sources"]["src"]["repaired"] == {}


def test_a_bom_wins_over_the_meta_tag(tmp_path):
    html = page(FRENCH, '<meta charset="iso-8859-1">')
    (tmp_path / "p.html").write_bytes(b"\xef\xbb\xbf" + html.encode("utf-8"))
    (tmp_path / "q.html").write_bytes(html.encode("utf-16"))
    docs, m = run(tmp_path, [local(tmp_path / "*.html")])
    assert [FRENCH in d["text"] for d in docs] == [True, True]
    assert m["sources"]["src"]["charsets"] == {} and m["sources"]["src"]["repaired"] == {}


def test_a_bom_wins_over_a_wrong_http_header(tmp_path):
    body = b"\xef\xbb\xbf" + page(GERMAN, "").encode("utf-8")
    (tmp_path / "c.warc.gz").write_bytes(
        warc([("http://de.example/", "text/html; charset=iso-8859-1", body)], gzip=True)
    )
    docs, m = run(tmp_path, [local(tmp_path / "c.warc.gz")])
    assert GERMAN in docs[0]["text"] and "\u00c3" not in docs[0]["text"]
    assert m["sources"]["src"]["charsets"] == {}


def test_a_local_html_page_reads_its_meta_charset(tmp_path):
    (tmp_path / "p.html").write_bytes(page(GERMAN, '<meta charset="latin1">').encode("latin-1"))
    docs, _ = run(tmp_path, [local(tmp_path / "p.html")])
    assert GERMAN in docs[0]["text"]


@pytest.mark.parametrize("encoding", ["iso-8859-1", "cp1252"])
def test_undeclared_text_files_in_a_legacy_charset_are_detected(tmp_path, encoding):
    prose = f"{GERMAN}\n{FRENCH}\n" + (f"{CP1252_ONLY}\n" if encoding == "cp1252" else "")
    (tmp_path / "d.txt").write_bytes(prose.encode(encoding))
    (tmp_path / "d.csv").write_bytes(f'text,lang\n"{GERMAN}",de\n"{FRENCH}",fr\n'.encode(encoding))
    docs, m = run(
        tmp_path, [local(tmp_path / "d.txt", reader="lines"), local(tmp_path / "d.csv", name="csv")]
    )
    assert [d["text"] for d in docs] == prose.splitlines() + [GERMAN, FRENCH]
    assert all(s["repaired"] == {} for s in m["sources"].values())


def test_utf8_stays_utf8_even_with_a_damaged_byte(tmp_path):
    data = f"{GERMAN}\n{FRENCH}\n".encode().replace("Möwen".encode(), b"M\xf6wen")
    (tmp_path / "d.txt").write_bytes(data)
    docs, m = run(tmp_path, [local(tmp_path / "d.txt", reader="lines")])
    assert docs[1]["text"] == FRENCH and "M\ufffdwen" in docs[0]["text"]
    assert m["sources"]["src"]["repaired"] == {"invalid_bytes": 1} and m["sources"]["src"]["charsets"] == {}


def test_charset_labels():
    assert charset_from_header('text/html; charset="ISO-8859-1"') == "cp1252"
    assert (
        charset_from_header("text/html") is None
        and charset_from_header("text/html; charset=nonsense") is None
    )
    assert (
        charset_from_meta(b'<head><meta http-equiv="content-type" content="text/html; charset=koi8-r">')
        == "koi8-r"
    )
    assert charset_from_meta(b"<head><meta name=viewport content=width>") is None
    assert known_codec("UTF-16") == "utf-8" and known_codec("Windows-1252") == "cp1252"
    assert detect(GERMAN.encode("utf-8")) == "utf-8" and not mostly_utf8(GERMAN.encode("cp1252"))
    assert GERMAN.encode("cp1252").decode(detect(GERMAN.encode("cp1252"))) == GERMAN
    assert json.dumps(detect(b"plain ascii")) == '"utf-8"'

"""Bad input for the collect stage: every case is a counted skip (or repair) with the good
records beside it surviving, or a clear DataError when on_error is fail."""

from __future__ import annotations

import gzip
import json

import pytest
from collect_fixtures import local, run, warc

from stages.common.errors import DataError

GOOD = [json.dumps({"id": i, "text": f"good record {i}"}) for i in range(3)]


def texts(docs):
    return [d["text"] for d in docs]


def test_malformed_json_and_bad_text_fields_are_counted_and_skipped(tmp_path):
    lines = [
        GOOD[0],
        '{"text": "unterminated',
        GOOD[1],
        '{"title": "no text"}',
        '{"text": 42}',
        "[1, 2]",
        GOOD[2],
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    docs, m = run(tmp_path, [local(tmp_path / "d.jsonl")])
    assert texts(docs) == ["good record 0", "good record 1", "good record 2"]
    assert m["sources"]["src"]["skipped"] == {"bad_json": 2, "missing_text": 1, "non_string_text": 1}


def test_on_error_fail_names_the_file_and_record_and_writes_nothing(tmp_path):
    (tmp_path / "d.jsonl").write_text(f'{GOOD[0]}\n{{"text": \n{GOOD[1]}\n')
    with pytest.raises(DataError, match=r"d\.jsonl line 2: not valid JSON"):
        run(tmp_path, [local(tmp_path / "d.jsonl")], on_error="fail")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "collect.json").exists()


def test_damaged_utf8_is_replaced_and_counted(tmp_path):
    (tmp_path / "d.txt").write_bytes(
        "crème brûlée\ncafé au lait\n".encode().replace(b"\xc3\xa9 au", b"\xe9 au")
    )
    docs, m = run(tmp_path, [local(tmp_path / "d.txt", reader="lines")])
    assert texts(docs) == ["crème brûlée", "caf\ufffd au lait"]
    assert m["sources"]["src"]["repaired"] == {"invalid_bytes": 1}
    assert m["sources"]["src"]["repaired_characters"] == {"invalid_bytes": 1}


def test_utf16_with_bom_is_decoded(tmp_path):
    (tmp_path / "d.jsonl").write_bytes("\n".join(GOOD[:2]).replace("good", "gööd").encode("utf-16"))
    docs, m = run(tmp_path, [local(tmp_path / "d.jsonl")])
    assert texts(docs) == ["gööd record 0", "gööd record 1"]
    assert m["sources"]["src"]["skipped_total"] == 0 and m["sources"]["src"]["repaired"] == {}


def test_nul_bytes_are_removed_and_counted(tmp_path):
    (tmp_path / "d.txt").write_bytes(b"one\x00 line\nanother line\n")
    docs, m = run(tmp_path, [local(tmp_path / "d.txt", reader="lines")])
    assert texts(docs) == ["one line", "another line"]
    assert m["sources"]["src"]["repaired"] == {"nul": 1}


def test_a_line_nested_past_the_recursion_limit_skips_that_line_alone(tmp_path):
    deep = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "d.jsonl").write_text("\n".join([GOOD[0], deep, GOOD[1]]) + "\n")
    (tmp_path / "e.jsonl").write_text(GOOD[2] + "\n")
    docs, m = run(tmp_path, [local(tmp_path / "*.jsonl")])
    assert texts(docs) == ["good record 0", "good record 1", "good record 2"]
    assert m["sources"]["src"]["skipped"] == {"bad_record": 1}


def test_lone_surrogates_in_text_and_meta_are_replaced_and_counted(tmp_path):
    lines = [
        r'{"id": "\udc80x", "text": "before \ud800 after"}',
        r'{"text": "a BOM\ufeff inside and a NUL\u0000 too"}',
        GOOD[0],
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    docs, m = run(tmp_path, [local(tmp_path / "d.jsonl")])
    assert texts(docs) == ["before \ufffd after", "a BOM inside and a NUL too", "good record 0"]
    assert json.loads(docs[0]["meta"]) == {"record_id": "\ufffdx"}
    assert m["sources"]["src"]["repaired"] == {"bom": 1, "lone_surrogate": 2, "nul": 1}
    assert m["sources"]["src"]["skipped_total"] == 0


def test_on_error_fail_keeps_a_repaired_record(tmp_path):
    (tmp_path / "d.jsonl").write_text(r'{"text": "lone \ud800 surrogate"}' + "\n")
    docs, m = run(tmp_path, [local(tmp_path / "d.jsonl")], on_error="fail")
    assert texts(docs) == ["lone \ufffd surrogate"]
    assert m["sources"]["src"]["repaired"] == {"lone_surrogate": 1}


def test_on_error_fail_stops_at_a_record_nested_too_deeply(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": ' + "[" * 100_000 + "\n")
    with pytest.raises(DataError, match=r"d\.jsonl line 1: nested too deeply"):
        run(tmp_path, [local(tmp_path / "d.jsonl")], on_error="fail")


def test_a_reader_that_breaks_mid_file_loses_only_the_rest_of_that_file(tmp_path, monkeypatch):
    from stages.collect import registry

    def fragile(text, where, src, tally):
        for i, line in enumerate(text.splitlines(), start=1):
            if line == "boom":
                raise IndexError("a library bug")
            yield line, str(i), {}

    monkeypatch.setitem(registry.READERS, "lines", (fragile, False))
    (tmp_path / "a.txt").write_text("kept one\nboom\nlost\n")
    (tmp_path / "b.txt").write_text("kept two\n")
    docs, m = run(tmp_path, [local(tmp_path / "*.txt", reader="lines")])
    assert texts(docs) == ["kept one", "kept two"]
    assert m["sources"]["src"]["skipped"] == {"bad_file": 1}


def test_binary_file_among_text_files_is_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("a real page")
    (tmp_path / "b.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    docs, m = run(tmp_path, [local(tmp_path / "*.txt")])
    assert texts(docs) == ["a real page"]
    assert m["sources"]["src"]["skipped"] == {"binary_file": 1}


def test_truncated_gzip_keeps_the_records_before_the_damage(tmp_path):
    blob = gzip.compress(("\n".join(GOOD * 200) + "\n").encode())
    (tmp_path / "d.jsonl.gz").write_bytes(blob[: len(blob) * 2 // 3])
    docs, m = run(tmp_path, [local(tmp_path / "d.jsonl.gz")])
    skipped = m["sources"]["src"]["skipped"]
    assert skipped["truncated_file"] == 1
    assert 100 < len(docs) < 600 and set(texts(docs)) == {f"good record {i}" for i in range(3)}
    # The cut usually falls inside a record: at most that one line is lost as bad JSON.
    assert skipped.get("bad_json", 0) <= 1


def test_zstd_input_is_read(tmp_path):
    import zstandard

    (tmp_path / "d.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress("\n".join(GOOD).encode()))
    docs, _ = run(tmp_path, [local(tmp_path / "d.jsonl.zst")])
    assert len(docs) == 3


def test_a_gz_file_is_read_as_what_its_bytes_are(tmp_path):
    import bz2

    (tmp_path / "plain.jsonl.gz").write_text(GOOD[0] + "\n")
    (tmp_path / "bzip.jsonl.gz").write_bytes(bz2.compress((GOOD[1] + "\n").encode()))
    (tmp_path / "noise.jsonl.gz").write_bytes(b"\x00\x01\x02\x03" * 100)
    docs, m = run(tmp_path, [local(tmp_path / "*.gz")])
    assert sorted(texts(docs)) == ["good record 0", "good record 1"]
    assert m["sources"]["src"]["skipped"] == {"not_compressed": 1}
    assert m["sources"]["src"]["repaired"] == {"misnamed_compression": 2}


def test_a_gz_file_that_is_not_gzip_says_so_under_on_error_fail(tmp_path):
    (tmp_path / "noise.jsonl.gz").write_bytes(b"\x00\x01\x02\x03" * 100)
    with pytest.raises(DataError, match="not a gzip file"):
        run(tmp_path, [local(tmp_path / "noise.jsonl.gz")], on_error="fail")


def test_empty_file_and_empty_parquet_are_counted(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.jsonl").write_text("\n".join(GOOD))
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "c.parquet")
    pq.write_table(pa.table({"text": ["from parquet", None], "id": ["p1", "p2"]}), tmp_path / "d.parquet")
    docs, m = run(tmp_path, [local(tmp_path / "*.jsonl"), local(tmp_path / "*.parquet", name="pq")])
    assert len(docs) == 4 and docs[-1]["text"] == "from parquet"
    assert json.loads(docs[-1]["meta"]) == {"record_id": "p1"}
    assert m["sources"]["src"]["skipped"] == {"empty_file": 1}
    assert m["sources"]["pq"]["skipped"] == {"empty_file": 1, "non_string_text": 1}


def test_a_single_20mb_line_is_skipped_as_too_long(tmp_path):
    (tmp_path / "d.txt").write_text("short before\n" + "x" * 20_000_000 + "\nshort after\n")
    docs, m = run(tmp_path, [local(tmp_path / "d.txt", reader="lines")])
    assert texts(docs) == ["short before", "short after"]
    assert m["sources"]["src"]["skipped"] == {"too_long": 1}


PAGE = (
    b"<html><head><title>Page %d</title></head><body><article><p>"
    + b"Page %d explains how data pipelines keep their outputs reproducible. " * 6
    + b"</p></article></body></html>"
)


def _page(i: int) -> bytes:
    return PAGE.replace(b"%d", str(i).encode())


def test_warc_keeps_html_and_counts_binary_payloads(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    records = [
        ("http://a.example/1", "text/html; charset=utf-8", _page(1)),
        ("http://a.example/logo.png", "image/png", png),
        ("http://a.example/x", "text/html", png),  # mislabelled binary
        ("http://a.example/2", "text/html", _page(2)),
    ]
    (tmp_path / "crawl.warc.gz").write_bytes(gzip.compress(warc(records)))
    docs, m = run(tmp_path, [local(tmp_path / "*.warc.gz")])
    assert len(docs) == 2 and "Page 2 explains" in docs[1]["text"]
    meta = json.loads(docs[0]["meta"])
    assert meta["url"] == "http://a.example/1" and meta["title"] == "Page 1"
    assert docs[1]["origin"].endswith("crawl.warc.gz#3")
    assert m["sources"]["src"]["skipped"] == {"binary_payload": 2}


@pytest.mark.parametrize("cut", [30, 300, 700])
def test_truncated_warc_keeps_the_whole_records(tmp_path, cut):
    data = warc([(f"http://a.example/{i}", "text/html", _page(i)) for i in range(4)])
    (tmp_path / "cut.warc").write_bytes(data[: len(data) - cut])
    docs, m = run(tmp_path, [local(tmp_path / "cut.warc")])
    assert [json.loads(d["meta"])["url"] for d in docs] == [f"http://a.example/{i}" for i in range(3)]
    assert m["sources"]["src"]["skipped"] == {"truncated_record": 1}


def test_warc_responses_that_are_not_2xx_are_skipped_with_their_status(tmp_path):
    records = [
        ("http://a.example/1", "text/html", _page(1)),
        ("http://a.example/gone", "text/html", _page(2), "404 Not Found"),
        ("http://a.example/moved", "text/html", _page(3), "301 Moved Permanently"),
        ("http://a.example/err", "text/html", _page(4), "500 Internal Server Error"),
        ("http://a.example/5", "text/html", _page(5), "203 Non-Authoritative Information"),
    ]
    (tmp_path / "crawl.warc").write_bytes(warc(records))
    docs, m = run(tmp_path, [local(tmp_path / "crawl.warc")])
    assert [json.loads(d["meta"])["url"] for d in docs] == ["http://a.example/1", "http://a.example/5"]
    assert m["sources"]["src"]["skipped"] == {"http_status": 3}
    with pytest.raises(DataError, match="HTTP status 404"):
        run(tmp_path / "fail", [local(tmp_path / "crawl.warc")], on_error="fail")

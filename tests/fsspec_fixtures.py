"""Files and helpers shared by the fsspec tests: a small corpus of every reader's format, put on disk
and into an fsspec filesystem, and digests of a stage's output folder."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from collect_fixtures import warc

PAGE = (
    b"<html><head><title>Tide pools</title></head><body><article><p>Tide pools hold small worlds "
    b"of their own: anemones, snails and crabs wait there for the sea to come back twice a day, "
    b"and the water in them warms and cools with the sun.</p></article></body></html>"
)


JSONL = (
    b'{"text": "A first line of prose about rivers.", "id": "r1"}\n{"text": "A second one, about hills."}\n'
)


def corpus_files() -> dict[str, bytes]:
    """Files of every kind the URL path must read alike: jsonl, text, html, WARC (plain and
    gzipped per record), a gzipped jsonl, one in a subfolder."""
    return {
        "a.jsonl": JSONL,
        "b.txt": "Plain text, one document, with a pound sign: £5.\n".encode(),
        "c.html": PAGE,
        "d.warc": warc([("https://example.org/tides", "text/html; charset=utf-8", PAGE)]),
        "e.warc.gz": warc(
            [("https://example.org/gz", "text/html", PAGE.replace(b"Tide", b"Rock"))], gzip=True
        ),
        "f.jsonl.gz": gzip.compress(b'{"text": "Compressed, and read from its magic bytes."}\n'),
        "sub/g.txt": b"A file one folder down.\n",
    }


def put(files: dict[str, bytes], disk: Path, mem=None) -> None:
    for name, data in files.items():
        (disk / name).parent.mkdir(parents=True, exist_ok=True)
        (disk / name).write_bytes(data)
        if mem is not None:
            mem[0].pipe(f"{mem[1]}/{name}", data)


def without_origin(docs: list[dict]) -> list[dict]:
    return [{k: v for k, v in d.items() if k != "origin"} for d in docs]


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }

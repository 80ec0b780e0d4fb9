"""fetch_pypi takes the pinned file itself from the index's simple API (PEP 503 HTML, PEP 691 JSON)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from stages.common import fetch
from stages.common.errors import DataError

SDIST = b"an sdist's bytes\n"
WHEEL = b"a wheel's bytes\n"
SDIST_SHA = hashlib.sha256(SDIST).hexdigest()
WHEEL_SHA = hashlib.sha256(WHEEL).hexdigest()
WHEEL_NAME = "my_pkg-1.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"


def html_index(root: Path) -> Path:
    """A PEP 503 index folder, as `pip download` reads from `--index-url file://...`."""
    files = root / "files"
    files.mkdir(parents=True)
    (files / "my-pkg-1.0.tar.gz").write_bytes(SDIST)
    (files / WHEEL_NAME).write_bytes(WHEEL)
    project = root / "simple" / "my-pkg"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        "<html><body>"
        f'<a href="../../files/my-pkg-1.0.tar.gz#sha256={SDIST_SHA}">my-pkg-1.0.tar.gz</a>'
        f'<a href="../../files/{WHEEL_NAME}#sha256={WHEEL_SHA}">{WHEEL_NAME}</a>'
        "</body></html>"
    )
    return root / "simple"


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    simple = html_index(tmp_path / "index")
    monkeypatch.setenv("PIP_INDEX_URL", simple.as_uri())
    return simple


def test_the_file_with_the_pinned_hash_is_fetched_and_nothing_is_built(index):
    # The project name is normalised as the index expects (PEP 503): My_Pkg -> my-pkg.
    got = fetch.fetch_pypi("My_Pkg==1.0", SDIST_SHA, sdist=True)
    assert got.name == "my-pkg-1.0.tar.gz" and got.read_bytes() == SDIST
    wheel = fetch.fetch_pypi("my-pkg==1.0", WHEEL_SHA, platforms=("manylinux_2_28_x86_64",))
    assert wheel.name == WHEEL_NAME and wheel.read_bytes() == WHEEL
    (index / "my-pkg" / "index.html").unlink()  # a cache hit asks the index nothing
    assert fetch.fetch_pypi("my-pkg==1.0", SDIST_SHA).read_bytes() == SDIST


def test_a_pin_no_listed_file_has_says_which_files_there_are(index):
    with pytest.raises(DataError, match=r"no file on .* has sha256 0+ .*my-pkg-1\.0\.tar\.gz " + SDIST_SHA):
        fetch.fetch_pypi("my-pkg==1.0", "0" * 64, sdist=True)
    with pytest.raises(DataError, match="pin the package as name==version"):
        fetch.fetch_pypi("my-pkg", SDIST_SHA)


def test_a_wheel_for_other_platforms_is_refused(index):
    with pytest.raises(DataError, match="built for none of"):
        fetch.fetch_pypi("my-pkg==1.0", WHEEL_SHA, platforms=("win_amd64",))


def test_a_wheel_pinned_where_a_source_archive_is_read_is_refused_fetched_or_cached(index):
    with pytest.raises(DataError, match="wheel .* but a source archive is read here"):
        fetch.fetch_pypi("my-pkg==1.0", WHEEL_SHA, sdist=True)
    fetch.fetch_pypi("my-pkg==1.0", WHEEL_SHA)  # now in the cache
    with pytest.raises(DataError, match="pin the sha256 of the .tar.gz"):
        fetch.fetch_pypi("my-pkg==1.0", WHEEL_SHA, sdist=True)


def test_a_file_whose_bytes_differ_from_the_listed_hash_is_discarded(index):
    (index.parent / "files" / "my-pkg-1.0.tar.gz").write_bytes(b"tampered")
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch.fetch_pypi("my-pkg==1.0", SDIST_SHA, sdist=True)
    assert not list((Path(fetch.cache_dir()) / "by-sha256").glob(f"{SDIST_SHA}/*"))


def test_the_json_simple_api_is_read_when_the_index_serves_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    asked: list[str] = []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.headers.get("Accept", ""))
            if self.path == "/simple/my-pkg/":
                body = json.dumps(
                    {
                        "files": [
                            {
                                "filename": "my-pkg-1.0.tar.gz",
                                "url": "/f/x.tgz",
                                "hashes": {"sha256": SDIST_SHA},
                            }
                        ]
                    }
                ).encode()
                kind = fetch._SIMPLE_JSON
            elif self.path == "/f/x.tgz":
                body, kind = SDIST, "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple/")
        got = fetch.fetch_pypi("my-pkg==1.0", SDIST_SHA, sdist=True)
    finally:
        server.shutdown()
    assert got.read_bytes() == SDIST and got.name == "my-pkg-1.0.tar.gz"
    assert fetch._SIMPLE_JSON in asked[0]


def test_an_index_that_does_not_answer_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "nowhere").as_uri())
    with pytest.raises(DataError, match="package index did not answer.*PIP_INDEX_URL"):
        fetch.fetch_pypi("my-pkg==1.0", SDIST_SHA)

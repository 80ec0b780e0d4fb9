"""Fetch pinned files into a content-checked cache: package-index files and http(s) URLs.

The cache lives in `$PIPELINE_CACHE` (default `~/.cache/llm-pipeline`). A file is used
only once its sha256 matches the pin; a mismatch is an error and the file is discarded,
so nothing downstream ever reads unverified bytes.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from stages.common.errors import DataError

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    root = Path(os.environ.get("PIPELINE_CACHE", Path.home() / ".cache" / "llm-pipeline"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(path: Path, sha256: str, what: str) -> Path:
    got = sha256_file(path)
    if got != sha256.lower():
        path.unlink(missing_ok=True)
        raise DataError(
            f"{what}: sha256 mismatch: expected {sha256}, got {got}. The file was discarded; "
            "if the new file is trusted, update the sha256 in params.yaml"
        )
    return path


def _cached(sha256: str) -> Path | None:
    """A cached file with this hash, re-hashed so a corrupted cache entry is never used."""
    d = cache_dir() / "by-sha256" / sha256.lower()
    for p in sorted(d.glob("*")) if d.is_dir() else []:
        if p.is_file() and sha256_file(p) == sha256.lower():
            return p
        log.warning("%s: cached file does not match its sha256; fetching it again", p)
        p.unlink(missing_ok=True)
    return None


def _store(tmp_file: Path, sha256: str, what: str) -> Path:
    _check(tmp_file, sha256, what)
    d = cache_dir() / "by-sha256" / sha256.lower()
    d.mkdir(parents=True, exist_ok=True)
    dest = d / tmp_file.name
    shutil.move(str(tmp_file), dest)
    return dest


DEFAULT_INDEX = "https://pypi.org/simple"
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def index_url() -> str:
    """The package index's simple API: pip's `PIP_INDEX_URL` where set, else PyPI's."""
    return os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX).rstrip("/")


class _Links(html.parser.HTMLParser):
    """The file links of a PEP 503 project page: (filename, absolute url, sha256 or "")."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.files: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            url, _, fragment = urllib.parse.urljoin(self.base, href).partition("#")
            sha = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else ""
            self.files.append((urllib.parse.unquote(Path(urllib.parse.urlparse(url).path).name), url, sha))


def _project_files(name: str, timeout: float) -> list[tuple[str, str, str]]:
    """Every file the index lists for project `name`: (filename, url, sha256), JSON (PEP 691) or HTML (PEP 503)."""
    page = f"{index_url()}/{re.sub(r'[-_.]+', '-', name).lower()}/"
    if page.startswith("file:"):  # a local index folder: pip reads its index.html
        page += "index.html"
    request = urllib.request.Request(page, headers={"Accept": f"{_SIMPLE_JSON}, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            body, kind = r.read(), r.headers.get_content_type()
    except OSError as e:
        raise DataError(
            f"{page}: the package index did not answer ({e}); check the network or PIP_INDEX_URL"
        ) from None
    if kind == _SIMPLE_JSON:
        return [
            (f["filename"], urllib.parse.urljoin(page, f["url"]), f.get("hashes", {}).get("sha256", ""))
            for f in json.loads(body)["files"]
        ]
    links = _Links(page)
    links.feed(body.decode("utf-8", "replace"))
    return links.files


def fetch_pypi(
    requirement: str,
    sha256: str,
    *,
    sdist: bool = False,
    platforms: tuple[str, ...] = (),
    timeout: float = 60.0,
) -> Path:
    """Download the one file of `name==version` whose sha256 is the pin, from the index's simple API.

    The pin names the file exactly (a wheel for one platform, or the source archive), so the
    file is fetched as it is: nothing is built, and no `pip download` resolves anything.
    `sdist` names the kind of file expected, for the error when no file matches; `platforms`
    (wheel platform tags): a pinned wheel built for none of them is an error.
    """
    name, sep, version = requirement.partition("==")
    if not sep or not name or not version:
        raise DataError(f"{requirement!r}: pin the package as name==version")
    hit = _cached(sha256)
    if hit is not None:
        _check_kind(requirement, hit.name, sdist, platforms)
        return hit
    files = _project_files(name.strip(), timeout)
    match = [(f, url) for f, url, sha in files if sha.lower() == sha256.lower()]
    if not match:
        kind = "source archive" if sdist else "wheel or archive"
        listed = [f"{f} {sha or '(no hash listed)'}" for f, _, sha in files if f"-{version}" in f] or ["none"]
        raise DataError(
            f"{requirement}: no file on {index_url()} has sha256 {sha256} (a {kind}); files of "
            f"{version}: {'; '.join(listed[:5])}. Pin the sha256 of the file you want"
        )
    filename, url = match[0]
    _check_kind(requirement, filename, sdist, platforms)
    log.info("fetching %s (%s) from %s", requirement, filename, index_url())
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        dest = Path(tmp) / filename
        _download(url, dest, timeout)
        return _store(dest, sha256, f"{requirement} ({filename})")


def _check_kind(requirement: str, filename: str, sdist: bool, platforms: tuple[str, ...]) -> None:
    """The pinned file is the kind asked for: a source archive when `sdist`, else a wheel for one
    of `platforms` (when given) or an archive."""
    wheel = filename.endswith(".whl")
    if sdist and wheel:
        raise DataError(
            f"{requirement}: the pinned sha256 is the wheel {filename}, but a source archive is read "
            "here; pin the sha256 of the .tar.gz or .zip"
        )
    tags = set(filename.removesuffix(".whl").rsplit("-", 1)[-1].split(".")) if wheel else set()
    if platforms and wheel and not tags & set(platforms):
        raise DataError(
            f"{requirement}: the pinned sha256 is {filename}, built for none of {list(platforms)}"
        )


def _download(url: str, dest: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(dest, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        raise DataError(f"{url}: download failed ({e}); check the URL and the network") from None


def fetch_url(url: str, sha256: str, timeout: float = 60.0) -> Path:
    """Download `url` (http, https or file) and check it against `sha256`."""
    hit = _cached(sha256)
    if hit is not None:
        return hit
    name = Path(urllib.request.urlparse(url).path).name or "download"
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        dest = Path(tmp) / name
        _download(url, dest, timeout)
        return _store(dest, sha256, url)

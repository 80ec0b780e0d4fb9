"""Paths that may be fsspec URLs: `s3://bucket/crawl/*.warc.gz`, `gs://…`, `hf://…`, `file:///…`,
`memory://…`, or a plain local path.

Inputs (collect's `local` sources, `hf` data files) and dedup's shuffle folder may live on any
filesystem fsspec reaches; the stage outputs never do (DVC tracks them in the checkout). A
protocol whose library is missing (s3fs, gcsfs) gets one sentence naming the package to install.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stages.common.errors import DataError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str | Path) -> bool:
    """True for `protocol://…`; a plain path (relative or absolute) is not a URL."""
    return bool(_URL.match(str(path)))


def protocol(path: str | Path) -> str:
    return str(path).split("://", 1)[0] if is_url(path) else "file"


def filesystem(path: str | Path, what: str) -> tuple[Any, str]:
    """The fsspec filesystem of `path` and the path inside it (`fsspec.core.url_to_fs`).

    `what` names the param the path came from, for the error when the protocol is unknown or
    its library is not installed (s3:// needs s3fs, gs:// gcsfs, hf:// huggingface_hub)."""
    from fsspec.core import url_to_fs
    from fsspec.registry import known_implementations

    try:
        return url_to_fs(str(path))
    except ImportError:
        impl = known_implementations.get(protocol(path), {})
        package = str(impl.get("class", "")).split(".", 1)[0] or "the fsspec implementation of the protocol"
        raise DataError(
            f"{path}: reading {protocol(path)}:// URLs needs the {package} package ({what}); "
            f"`pip install {package}` on every machine that runs the stage"
        ) from None
    except ValueError as e:
        if "Protocol not known" not in str(e):
            raise
        raise DataError(
            f"{path}: fsspec knows no protocol {protocol(path)!r} ({what}); use a local path or a URL "
            "such as s3://bucket/key, gs://bucket/key, file:///abs/path"
        ) from None


def read_bytes(url: str, what: str) -> bytes:
    """The whole content of the file at `url` (a URL or a local path), unchanged: any
    decompression is the reader's, from the bytes' own magic."""
    fs, path = (None, url) if not is_url(url) else filesystem(url, what)
    try:
        return Path(path).read_bytes() if fs is None else fs.cat_file(path)
    except Exception as e:  # a missing file, a lost connection, a denied key: each library its own type
        raise DataError(f"{url}: cannot read the file ({what}): {type(e).__name__}: {e}") from None

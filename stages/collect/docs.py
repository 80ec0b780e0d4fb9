"""Documents and their accounting: the content-hash id, the document record, and the
per-source tally of kept documents, skips and repairs that becomes metrics/collect.json."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stages.common.errors import DataError, PipelineError

log = logging.getLogger("stages.collect")

# Log this many skips per (source, reason) one by one; the rest only appear in the metrics.
LOG_FIRST = 5


def doc_id(text: str) -> str:
    """Stable id of a document: the first 32 hex digits of the sha256 of its UTF-8 text.

    It depends on the text alone, so the same text gets the same id in every run, on
    every machine and from every source; exact duplicates share an id, which dedup uses.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def make_doc(text: str, source: str, origin: str, license: str, meta: dict[str, Any]) -> dict[str, str]:
    """One row of the shared document schema (meta is encoded as a JSON object string)."""
    return {
        "id": doc_id(text),
        "text": text,
        "source": source,
        "origin": origin,
        "license": license,
        "meta": encode_meta(meta),
    }


def encode_meta(meta: dict[str, Any]) -> str:
    """The `meta` column: a JSON object string, keys sorted so equal meta gives equal bytes."""
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)


@dataclass
class Tally:
    """What happened to one source: kept documents and sizes, skips and repairs by reason.

    With `fail=True` (collect.on_error: fail) the first skip raises a DataError naming the
    file and record instead. A repair never stops the run, under fail as under skip: the
    record is kept with the repair made (bytes that are not text replaced by U+FFFD, NUL and
    BOM characters removed), counted in `repaired` and logged, since nothing of it is lost
    that a reader of the text could use.
    """

    source: str
    fail: bool = False
    documents: int = 0
    characters: int = 0
    bytes: int = 0
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    repaired_characters: Counter = field(default_factory=Counter)
    charsets: Counter = field(default_factory=Counter)

    def keep(self, text: str) -> None:
        self.documents += 1
        self.characters += len(text)
        self.bytes += len(text.encode("utf-8"))

    def skip(self, reason: str, where: str, detail: str) -> None:
        """Count a dropped record; `where` names the file and record, `detail` what is wrong."""
        if self.fail:
            raise DataError(
                f"{where}: {detail} (source {self.source}). Fix the input, or set "
                "collect.on_error: skip to count and skip such records"
            )
        self.skipped[reason] += 1
        n = self.skipped[reason]
        if n <= LOG_FIRST:
            log.warning("skip [%s] %s: %s", reason, where, detail)
        elif n == LOG_FIRST + 1:
            log.warning(
                "skip [%s] more in source %s; see metrics/collect.json for the count", reason, self.source
            )

    def repair(self, reason: str, where: str, detail: str, characters: int = 0) -> None:
        """Count a record (or file) kept after a fix of `characters` characters (e.g.
        invalid UTF-8 replaced with U+FFFD, NUL characters removed)."""
        self.repaired[reason] += 1
        self.repaired_characters[reason] += characters
        if self.repaired[reason] <= LOG_FIRST:
            log.warning("repair [%s] %s: %s", reason, where, detail)

    @contextlib.contextmanager
    def record(self, where: str) -> Iterator[None]:
        """Guard one record of a reader: an unexpected error inside the block skips that
        record (reason bad_record) and the reader goes on with the next one.

        Errors of our own (DataError, e.g. a skip under on_error: fail) pass through.
        """
        try:
            yield
        except PipelineError:
            raise
        except Exception as e:
            self.skip("bad_record", where, describe_error(e))

    def as_metrics(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "characters": self.characters,
            "bytes": self.bytes,
            "files": self.files,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "repaired": dict(sorted(self.repaired.items())),
            "repaired_characters": dict(sorted(self.repaired_characters.items())),
            "charsets": dict(sorted(self.charsets.items())),
        }


def describe_error(e: Exception) -> str:
    """One line for an error raised inside a reader or a library it calls."""
    if isinstance(e, RecursionError):
        return "nested too deeply to parse (RecursionError)"
    if isinstance(e, MemoryError):
        return "too large to parse in memory (MemoryError)"
    text = str(e).splitlines()[0][:200] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

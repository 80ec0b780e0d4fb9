"""Documents and their accounting: the content-hash id, the document record, and the
per-source tally of kept documents, skips and repairs that becomes metrics/collect.json."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stages.common.errors import DataError

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

    With `fail=True` the first skip raises a DataError naming the file and record instead.
    """

    source: str
    fail: bool = False
    documents: int = 0
    characters: int = 0
    bytes: int = 0
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)

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

    def repair(self, reason: str, where: str, detail: str) -> None:
        """Count a record that is kept after a fix (e.g. invalid UTF-8 replaced)."""
        self.repaired[reason] += 1
        if self.repaired[reason] <= LOG_FIRST:
            log.warning("repair [%s] %s: %s", reason, where, detail)

    def as_metrics(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "characters": self.characters,
            "bytes": self.bytes,
            "files": self.files,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "repaired": dict(sorted(self.repaired.items())),
        }

"""Run the configured steps, in order, over batches of documents, and keep the books.

`Chain.run(docs)` passes each batch through every step; a document dropped by one step
never reaches the next. Every document in, kept, dropped (by reason) or changed is
counted per step in `StepStats`, with the time spent, so that metrics/clean.json and the
benchmark read the same numbers; `SourceStats` counts the same drops per collect source,
since one rule set can suit one kind of text and eat another.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stages.clean.base import Step
from stages.clean.config import CleanParams
from stages.common.errors import DataError

# Dropped documents are sampled for audit; very long ones are cut to keep the files readable.
REJECTED_TEXT_CHARS = 5000


def build_steps(cfg: CleanParams) -> list[Step]:
    """Instantiate the steps named in `cfg.steps`, in order; heavy imports happen here."""
    from stages.clean.harm import Harm
    from stages.clean.lang import Language
    from stages.clean.normalize import Normalize
    from stages.clean.pii import Pii
    from stages.clean.quality import Quality

    makers = {
        "normalize": lambda: Normalize(cfg.normalize),
        "language": lambda: Language(cfg.language),
        "quality": lambda: Quality(cfg.quality),
        "pii": lambda: Pii(cfg.pii),
        "harm": lambda: Harm(cfg.harm),
    }
    return [makers[name]() for name in cfg.steps]


def add_fields(into: Any, other: Any) -> None:
    """Add each field of dataclass `other` to the same field of `into`: numbers by +, Counters by update."""
    for f in dataclasses.fields(into):
        mine, theirs = getattr(into, f.name), getattr(other, f.name)
        if isinstance(mine, Counter):
            mine.update(theirs)
        else:
            setattr(into, f.name, mine + theirs)


@dataclass
class StepStats:
    docs_in: int = 0
    kept: int = 0
    dropped: int = 0
    changed: int = 0
    chars_in: int = 0
    seconds: float = 0.0
    drops: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)

    def merge(self, other: StepStats) -> None:
        add_fields(self, other)

    def as_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "kept": self.kept,
            "dropped": self.dropped,
            "changed": self.changed,
            "chars_in": self.chars_in,
            "drops_by_reason": dict(sorted(self.drops.items())),
            "counts": dict(sorted(self.counts.items())),
        }


@dataclass
class SourceStats:
    """One collect source's documents and characters in and out, and its drops by step and reason."""

    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    drops: Counter = field(default_factory=Counter)  # (step, reason) -> documents

    def merge(self, other: SourceStats) -> None:
        add_fields(self, other)

    def drop_shares(self) -> dict[str, dict[str, float]]:
        """{step: {reason: share of the source's documents}}."""
        out: dict[str, dict[str, float]] = {}
        for (step, reason), n in sorted(self.drops.items()):
            out.setdefault(step, {})[reason] = round(n / max(1, self.docs_in), 4)
        return out

    def as_dict(self) -> dict[str, Any]:
        drops: dict[str, dict[str, int]] = {}
        for (step, reason), n in sorted(self.drops.items()):
            drops.setdefault(step, {})[reason] = n
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "chars_in": self.chars_in,
            "chars_out": self.chars_out,
            "drop_share": round(1 - self.docs_out / max(1, self.docs_in), 4),
            "char_share_kept": round(self.chars_out / max(1, self.chars_in), 4),
            "drops": drops,
            "drop_shares": self.drop_shares(),
        }


def parse_meta(doc: dict[str, Any], where: str) -> dict[str, Any]:
    raw = doc.get("meta") or "{}"
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{where}: document {doc.get('id')!r} has meta that is not JSON ({e}); fix collect"
        ) from None
    if not isinstance(meta, dict):
        raise DataError(
            f"{where}: document {doc.get('id')!r} has meta {raw[:60]!r}, not a JSON object; fix collect"
        )
    return meta


class Chain:
    """The steps plus per-step stats and a bounded sample of rejected documents."""

    def __init__(self, steps: list[Step], rejected_sample: int = 0):
        self.steps = steps
        self.rejected_sample = rejected_sample
        self.reset()

    def reset(self) -> None:
        """Zero the books, e.g. between shards."""
        self.stats = {s.name: StepStats() for s in self.steps}
        self.rejected: dict[str, list[dict[str, Any]]] = {}
        self.docs_changed = 0  # kept documents whose text differs from the input
        self.sources: dict[str, SourceStats] = {}

    def _source(self, doc: dict[str, Any]) -> SourceStats:
        return self.sources.setdefault(str(doc.get("source")), SourceStats())

    def _reject(self, step: str, reason: str, doc: dict[str, Any], info: dict[str, Any]) -> None:
        bucket = self.rejected.setdefault(f"{step}-{reason}", [])
        if len(bucket) < self.rejected_sample:
            text = doc["text"]
            bucket.append(
                {
                    "id": doc.get("id"),
                    "source": doc.get("source"),
                    "origin": doc.get("origin"),
                    "step": step,
                    "reason": reason,
                    "info": info,
                    "chars": len(text),
                    "text": text[:REJECTED_TEXT_CHARS],
                }
            )

    def run(self, docs: list[dict[str, Any]], where: str = "batch") -> list[dict[str, Any]]:
        """Clean a batch; returns the kept documents with text and meta updated."""
        live = [dict(d) for d in docs]
        notes: list[dict[str, Any]] = [{} for _ in live]
        originals = [d["text"] for d in live]
        for doc in live:
            src = self._source(doc)
            src.docs_in += 1
            src.chars_in += len(doc["text"])
        for step in self.steps:
            st = self.stats[step.name]
            texts = [d["text"] for d in live]
            st.docs_in += len(texts)
            st.chars_in += sum(map(len, texts))
            t0 = time.process_time()
            outcomes = step.apply_sources(texts, [d.get("source") for d in live])
            st.seconds += time.process_time() - t0
            survivors, surviving_notes, surviving_originals = [], [], []
            for doc, note, original, out in zip(live, notes, originals, outcomes):
                st.counts.update(out.counts)
                if out.drop is not None:
                    st.dropped += 1
                    st.drops[out.drop] += 1
                    self._source(doc).drops[(step.name, out.drop)] += 1
                    self._reject(step.name, out.drop, doc, out.info)
                    continue
                st.kept += 1
                if out.text != doc["text"]:
                    st.changed += 1
                    doc["text"] = out.text
                if out.info:
                    note[step.name] = out.info
                survivors.append(doc)
                surviving_notes.append(note)
                surviving_originals.append(original)
            live, notes, originals = survivors, surviving_notes, surviving_originals
        self.docs_changed += sum(d["text"] != o for d, o in zip(live, originals))
        for doc in live:
            src = self._source(doc)
            src.docs_out += 1
            src.chars_out += len(doc["text"])
        for doc, note in zip(live, notes):
            meta = parse_meta(doc, where)
            meta["clean"] = note
            doc["meta"] = json.dumps(meta, ensure_ascii=False, sort_keys=True)
        return live

"""The step interface shared by every cleaning concern, in the style of datatrove filters.

A step looks at a document's text and returns an `Outcome`: keep it as is, keep a
modified text, or drop it with a reason. `info` goes into the document's meta under
`clean.<step>` so that every change stays traceable, and `counts` (e.g. PII spans by
type) is summed into metrics/clean.json.

Steps work on batches so that model-backed steps (spaCy, the profanity classifier) can
amortise their per-call overhead; rule-based steps just loop. The chain calls
`apply_sources`, which also passes each document's collect source; a step whose rules
depend on the kind of text (quality) overrides it, the others ignore the sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    text: str  # the (possibly modified) text; ignored when dropped
    drop: str | None = None  # reason, a short snake_case name usable in a file name
    info: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def keep(text: str, **info: Any) -> Outcome:
    return Outcome(text, None, info)


def drop(text: str, reason: str, **info: Any) -> Outcome:
    return Outcome(text, reason, info)


class Step:
    """One cleaning step; subclasses implement `apply` (one text) or `apply_batch`."""

    name: str = "step"

    def apply(self, text: str) -> Outcome:
        raise NotImplementedError

    def apply_batch(self, texts: Sequence[str]) -> list[Outcome]:
        return [self.apply(t) for t in texts]

    def apply_sources(self, texts: Sequence[str], sources: Sequence[str | None]) -> list[Outcome]:
        """`apply_batch`, for steps that judge every source alike."""
        return self.apply_batch(texts)

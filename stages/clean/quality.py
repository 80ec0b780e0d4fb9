"""The quality step: Gopher repetition, Gopher quality, then C4 (datatrove's FineWeb order).

The Gopher rules only judge; C4 also removes lines, so it runs last and the Gopher
rules see the text as it came in. Drop reasons are prefixed by rule set
(`gopher_rep_*`, `gopher_quality_*`, `c4_*`); lines C4 removes are counted by reason.

Which rules apply depends on the document's source: `clean.quality.source_kinds` gives its
kind (web, prose, code, dialogue, ...) and `clean.quality.kinds` that kind's overrides of
the base rules, since C4's rules, written for web crawl, drop every page that shows code.
A source that `source_kinds` does not list is judged by `default_kind`'s rules, and the
first document of such a source is logged once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.c4 import c4_filter
from stages.clean.config import QualityParams, RuleSet
from stages.clean.gopher import quality_reason, repetition_reason

log = logging.getLogger("stages.clean")


class Quality(Step):
    name = "quality"

    def __init__(self, cfg: QualityParams):
        self.cfg = cfg
        self.rules = {kind: cfg.rule_set(kind) for kind in cfg.kinds}
        self.stop_words = {
            kind: frozenset(w.lower() for w in rules.gopher_quality.stop_words)
            for kind, rules in self.rules.items()
        }
        self._unlisted: set[str | None] = set()

    def kind_of(self, source: str | None) -> str:
        if source not in self.cfg.source_kinds and source not in self._unlisted:
            self._unlisted.add(source)
            log.warning(
                "source %r is not in clean.quality.source_kinds; its documents get the %r kind's rules",
                source,
                self.cfg.default_kind,
            )
        return self.cfg.kind_of(source)

    def apply_sources(self, texts: Sequence[str], sources: Sequence[str | None]) -> list[Outcome]:
        return [self.apply(t, s) for t, s in zip(texts, sources)]

    def apply(self, text: str, source: str | None = None) -> Outcome:
        """Judge `text` by the rules of its source's kind (the default kind without a source)."""
        kind = self.kind_of(source) if source is not None else self.cfg.default_kind
        out = self.judge(text, self.rules[kind], self.stop_words[kind])
        if out.drop:
            out.info["kind"] = kind  # in the rejected sample, for audit
        return out

    def judge(self, text: str, cfg: RuleSet, stop_words: frozenset[str]) -> Outcome:
        words = text.split()
        if cfg.gopher_repetition.enabled:
            reason = repetition_reason(text, words, cfg.gopher_repetition)
            if reason:
                return drop(text, f"gopher_rep_{reason}")
        if cfg.gopher_quality.enabled:
            reason = quality_reason(text, words, cfg.gopher_quality, stop_words)
            if reason:
                return drop(text, f"gopher_quality_{reason}")
        if not cfg.c4.enabled:
            return keep(text)
        new, reason, removed = c4_filter(text, cfg.c4)
        if reason:
            return drop(text, f"c4_{reason}", lines_removed=sum(removed.values()))
        if new == text:
            return keep(text)
        out = keep(new, lines_removed=sum(removed.values()))
        out.counts = {f"c4_lines_removed_{k}": v for k, v in removed.items()}
        return out

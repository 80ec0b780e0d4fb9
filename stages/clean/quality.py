"""The quality step: Gopher repetition, Gopher quality, then C4 (datatrove's FineWeb order).

The Gopher rules only judge; C4 also removes lines, so it runs last and the Gopher
rules see the text as it came in. Drop reasons are prefixed by rule set
(`gopher_rep_*`, `gopher_quality_*`, `c4_*`); lines C4 removes are counted by reason.
"""

from __future__ import annotations

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.c4 import c4_filter
from stages.clean.config import QualityParams
from stages.clean.gopher import quality_reason, repetition_reason


class Quality(Step):
    name = "quality"

    def __init__(self, cfg: QualityParams):
        self.cfg = cfg
        self.stop_words = frozenset(w.lower() for w in cfg.gopher_quality.stop_words)

    def apply(self, text: str) -> Outcome:
        cfg = self.cfg
        words = text.split()
        if cfg.gopher_repetition.enabled:
            reason = repetition_reason(text, words, cfg.gopher_repetition)
            if reason:
                return drop(text, f"gopher_rep_{reason}")
        if cfg.gopher_quality.enabled:
            reason = quality_reason(text, words, cfg.gopher_quality, self.stop_words)
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

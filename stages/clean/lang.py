"""Language identification with py3langid; keep documents in the configured languages.

The confidence is py3langid's normalised probability over *all* its 97 languages; the
model is deliberately not restricted to `languages`, since a restricted softmax would
report high confidence for, say, German text when only [en] is allowed.
"""

from __future__ import annotations

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.config import LanguageParams
from stages.common.errors import ParamsError


class Language(Step):
    name = "language"

    def __init__(self, cfg: LanguageParams):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.cfg = cfg
        self.identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        unknown = sorted(set(cfg.languages) - set(self.identifier.labels))
        if unknown:
            raise ParamsError(
                f"clean.language.languages: {unknown} unknown to py3langid; "
                f"use codes from {sorted(self.identifier.labels)}"
            )
        self.allowed = frozenset(cfg.languages)

    def apply(self, text: str) -> Outcome:
        lang, prob = self.identifier.classify(text[: self.cfg.max_chars])
        info = {"lang": lang, "confidence": round(prob, 4)}
        if lang not in self.allowed:
            return drop(text, "wrong_language", **info)
        if prob < self.cfg.min_confidence:
            return drop(text, "low_confidence", **info)
        return keep(text, **info)

"""Text normalisation: mojibake repair (ftfy), Unicode normal form, whitespace.

Order matters: ftfy first (it needs the original bytes-as-characters to undo a wrong
decoding), then the normal form, then whitespace, so that NFKC's compatibility spaces are
unified too. `info["fixes"]` lists which of the three changed the text.
"""

from __future__ import annotations

import re
import unicodedata

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.config import NormalizeParams

# C0/C1 control characters other than tab and newline; they carry no text and break
# tokenizers downstream.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Whitespace other than newline and tab (NBSP, em space, ...) becomes a plain space.
_ODD_SPACES = re.compile(r"[^\S\n\t ]")
_INNER_RUN = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")  # collapsed; leading indentation is kept (code)
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_ENTITY = re.compile(r"&(?:[A-Za-z]{2,8}|#\d{2,7}|#[xX][0-9A-Fa-f]{2,6});")  # ftfy unescapes these


class Normalize(Step):
    name = "normalize"

    def __init__(self, cfg: NormalizeParams):
        self.cfg = cfg
        self._blank_runs = re.compile("\n{" + str(cfg.max_blank_lines + 2) + ",}")
        self._blank_repl = "\n" * (cfg.max_blank_lines + 1)
        self._ftfy_config = None
        if cfg.fix_mojibake:
            import ftfy

            # Our own steps do the normal form and whitespace; keep quotes curly (they are
            # text, not mojibake).
            self._ftfy_config = ftfy.TextFixerConfig(normalization=None, uncurl_quotes=False, explain=False)

    def fix_mojibake(self, text: str) -> str:
        import ftfy
        from ftfy.badness import is_bad

        # Mojibake needs non-ASCII characters, so most text skips ftfy, whose badness check
        # alone costs ~0.2 ms per 600 characters (fix_text: ~6 s on the 37 plays).
        if not _ENTITY.search(text) and (text.isascii() or not is_bad(text)):
            return text
        return ftfy.fix_text(text, config=self._ftfy_config)

    def whitespace(self, text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _CONTROL.sub("", text)
        text = _ODD_SPACES.sub(" ", text)
        text = _INNER_RUN.sub(" ", text)
        text = _TRAILING.sub("", text)
        text = self._blank_runs.sub(self._blank_repl, text)
        return text.strip("\n").rstrip()

    def apply(self, text: str) -> Outcome:
        fixes = []
        if self.cfg.fix_mojibake:
            fixed = self.fix_mojibake(text)
            if fixed != text:
                fixes.append("mojibake")
                text = fixed
        if not unicodedata.is_normalized(self.cfg.form, text):
            text = unicodedata.normalize(self.cfg.form, text)
            fixes.append(self.cfg.form)
        if self.cfg.whitespace:
            spaced = self.whitespace(text)
            if spaced != text:
                fixes.append("whitespace")
                text = spaced
        if not text:
            return drop(text, "empty")
        return keep(text, fixes=fixes) if fixes else keep(text)

"""C4 line and document rules (Raffel et al. 2020), as in datatrove's C4QualityFilter.

Line rules remove lines (no terminal punctuation, too few words, "javascript", cookie and
policy boilerplate, an over-long word); document rules drop the whole document ("lorem
ipsum", a curly bracket, too few sentences left). `curly_bracket` may instead remove just
the line (wiki markup left in prose) or keep it (code, in documentation). Unlike C4,
blank lines and a kept line's indentation survive, so that paragraph breaks are kept for
the repetition rules and the tokenizer, and code blocks stay code.

Sentences are counted with a regex (terminal punctuation followed by a space or line
end) instead of nltk's punkt, which is ~30x slower and needs data no registry ships.
"""

from __future__ import annotations

import re
from collections import Counter

from stages.clean.config import C4Params

_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
_END_PUNCT = (".", "?", "!", '"', "'", "”", "’")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def c4_filter(text: str, cfg: C4Params) -> tuple[str, str | None, Counter]:
    """Return (kept text, document drop reason or None, removed lines by reason)."""
    removed: Counter = Counter()
    kept: list[str] = []
    sentences = 0
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            kept.append("")
            continue
        words = line.split()
        if len(line) > cfg.max_word_length and max(map(len, words)) > cfg.max_word_length:
            removed["long_word"] += 1
            continue
        if cfg.remove_citations:
            line = _CITATION.sub("", line)
        if cfg.require_terminal_punctuation and (not line.endswith(_END_PUNCT) or line.endswith("...")):
            removed["no_terminal_punctuation"] += 1
            continue
        if len(words) < cfg.min_words_per_line:
            removed["few_words"] += 1
            continue
        lower = line.lower()
        if cfg.drop_lorem_ipsum and "lorem ipsum" in lower:
            return text, "lorem_ipsum", removed
        if cfg.remove_javascript_lines and "javascript" in lower:
            removed["javascript"] += 1
            continue
        if cfg.curly_bracket != "keep" and "{" in line:
            if cfg.curly_bracket == "drop_document":
                return text, "curly_bracket", removed
            removed["curly_bracket"] += 1
            continue
        if cfg.remove_policy_lines and any(p in lower for p in _POLICY):
            removed["policy"] += 1
            continue
        sentences += max(1, len(_SENTENCE_END.findall(line)))
        kept.append(raw[: len(raw) - len(raw.lstrip())] + line)  # indentation is syntax in code
    if sentences < cfg.min_sentences:
        return text, "too_few_sentences", removed
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return out, None, removed

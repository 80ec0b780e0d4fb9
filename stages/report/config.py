"""The `report:` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from stages.common.params import require


@dataclass(frozen=True)
class ReportParams:
    plots: bool = True  # write PNG plots beside report.md (matplotlib, no display needed)
    title: str = "Language model pipeline report"
    digits: int = 4  # significant digits of the figures in the tables

    def __post_init__(self) -> None:
        require(bool(self.title.strip()), "title", "must not be empty")
        require(1 <= self.digits <= 10, "digits", "must be between 1 and 10")

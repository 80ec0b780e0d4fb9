"""The `report:` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from stages.common.params import require


@dataclass(frozen=True)
class ReportParams:
    plots: bool
    title: str
    digits: int

    def __post_init__(self) -> None:
        require(bool(self.title.strip()), "title", "must not be empty")
        require(1 <= self.digits <= 10, "digits", "must be between 1 and 10")

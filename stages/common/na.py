"""The "n/a" figure: a metric that could not be measured, never written as 0.

A figure whose inputs are absent (a model not trained, a split without rows) is the string
`NA` in an evaluate family's figures, and its reason is kept beside it under the same key in
metrics/evaluate/<family>.json ("na": {key: reason}). metrics/metrics.json holds numbers
only, so evaluate leaves such a key out of it, and report puts it back as `NA` from the "na" maps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NA = "n/a"


def is_na(value: Any) -> bool:
    """True for the n/a marker (a number, even 0 or NaN, is a measurement, not n/a)."""
    return isinstance(value, str) and value == NA


def na_with_reason(keys: Iterable[str], reason: str) -> tuple[dict[str, str], dict[str, str]]:
    """Every key n/a for one reason: (flat values, reasons), both keyed by the full key."""
    keys = list(keys)
    return dict.fromkeys(keys, NA), dict.fromkeys(keys, reason)

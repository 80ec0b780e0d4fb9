"""Which family a figure belongs to, and why a figure is "n/a": read from evaluate's outputs only.

The family of a key comes from metrics/manifest.json, for both the report (one section per
family) and `--against` (changes grouped by family), so the two never disagree. The reason
for an n/a figure is filed under the same key in metrics/evaluate/<family>.json ("na").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stages.common.manifest import Manifest, Metric
from stages.common.na import is_na

OTHER = "other"  # the family of a key the manifest does not describe
# Report sections by family kind, in report order.
KINDS = ("lm", "classification", "domain", "fewshot", "robust", "ner", "privacy")


def family_of(key: str, manifest: Manifest | None) -> str:
    """The family the manifest files `key` under, or OTHER for a key it does not describe."""
    entry = manifest.metrics.get(key) if manifest else None
    return entry.family if entry else OTHER


def na_reason(key: str, detail: dict[str, Any] | None) -> str | None:
    """Why `key` is n/a: its entry in the family detail's `na` (or that `na` itself, when one
    reason covers the whole family)."""
    na = (detail or {}).get("na") if isinstance(detail, dict) else None
    if isinstance(na, str) and na:
        return na
    if isinstance(na, dict) and isinstance(na.get(key), str):
        return na[key]
    return None


def inapplicable(entry: Metric | None, value: Any, objective: Any) -> bool:
    """True for an n/a figure of the other objective (a masked-LM figure of a causal model, or back)."""
    return (
        is_na(value)
        and entry is not None
        and entry.objective is not None
        and objective in ("clm", "mlm")
        and entry.objective != objective
    )


def na_notes(
    keys: Iterable[str],
    flat: dict[str, Any],
    details: dict[str, dict[str, Any] | None],
    family: str,
    skip: Iterable[str] = (),
) -> list[str]:
    """One line per reason naming the n/a figures among `keys` (reasons from metrics/evaluate/<family>.json),
    except those in `skip` (figures of the other objective, which do not apply)."""
    by_reason: dict[str, list[str]] = {}
    for key in sorted(set(keys) - set(skip)):
        if is_na(flat.get(key)):
            reason = (
                na_reason(key, details.get(family)) or f"no reason recorded in metrics/evaluate/{family}.json"
            )
            by_reason.setdefault(reason, []).append(f"`{key}`")
    lines = [f"- n/a: {', '.join(ks)}: {reason}" for reason, ks in by_reason.items()]
    return lines + [""] if lines else []

"""Metric families of metrics/metrics.json, and why a figure of one is "n/a".

One place decides which family a flat key belongs to, for both the report (one section
per family) and `--against` (changes grouped by family), so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NA = "n/a"
# Families with a section of their own besides the classification tasks, in report order.
FAMILIES = ("pretrain", "domain", "fewshot", "robust", "ner", "privacy")
ROBUST_PARTS = ("perturbed", "attack")
# Classification families evaluate writes (`<task>.test.acc`, ...); others are found by that key.
CLASSIFIERS = ("classify", "adversarial")
INAPPLICABLE = "do not apply"  # evaluate's reason for figures of the other objective (causal vs masked)


def family_of(key: str) -> str:
    """The family of a flat key: its first part (as evaluate names metrics/evaluate/<family>.json),
    except `<system>.perturbed.*` and `<system>.attack.*`: any classifier (`classify`,
    `adversarial`, `classify.tfidf`) on the perturbed test set or under attack is `robust`.
    """
    parts = key.split(".")
    return "robust" if any(p in ROBUST_PARTS for p in parts[1:-1]) else parts[0]


def _candidates(key: str) -> list[str]:
    """Names a detail file may file the reason under: the key, its dotted prefixes, and the
    same without the family part (`ner.spacy.gold.f1` -> ..., `spacy.gold.f1`, `spacy.gold`, `spacy`),
    then `model`."""
    parts = key.split(".")
    out = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    out += [".".join(parts[1:i]) for i in range(len(parts), 1, -1)]
    return out + ["model"]  # a key naming no baseline system is the model's


def na_reason(key: str, details: Iterable[dict[str, Any] | None]) -> str | None:
    """Why `key` is n/a, from the first detail dict that says: its `na` (a reason for the
    whole family, or {name: reason}) or its top-level `reason`."""
    for detail in details:
        if not isinstance(detail, dict):
            continue
        na = detail.get("na")
        if isinstance(na, str) and na:
            return na
        if isinstance(na, dict):
            for name in _candidates(key):
                if isinstance(na.get(name), str):
                    return na[name]
        if isinstance(detail.get("reason"), str):
            return detail["reason"]
    return None


def na_notes(
    keys: Iterable[str], flat: dict[str, Any], details: dict[str, dict[str, Any] | None], family: str
) -> list[str]:
    """One line per reason naming the n/a figures among `keys` (reasons from metrics/evaluate/<family>.json),
    except figures of the other objective, which do not apply."""
    by_reason: dict[str, list[str]] = {}
    for key in sorted(set(keys)):
        if flat.get(key) == NA:
            reason = (
                na_reason(key, [details.get(family)])
                or f"no reason recorded in metrics/evaluate/{family}.json"
            )
            if INAPPLICABLE not in reason:  # sections leave those rows out
                by_reason.setdefault(reason, []).append(f"`{key}`")
    lines = [f"- n/a: {', '.join(ks)}: {reason}" for reason, ks in by_reason.items()]
    return lines + [""] if lines else []


def inapplicable(
    key: str, flat: dict[str, Any], details: dict[str, dict[str, Any] | None], family: str
) -> bool:
    """True for an n/a figure of the other objective (a masked-LM figure of a causal model, or back)."""
    reason = na_reason(key, [details.get(family)])
    return flat.get(key) == NA and reason is not None and INAPPLICABLE in reason

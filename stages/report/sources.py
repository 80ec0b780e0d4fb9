"""Read the metrics the report is made of, tolerating files that are absent or partial.

A report is most useful exactly when something upstream is missing, so a missing file is
never an error here: it becomes a sentence in the report saying what was expected.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from stages.common.io import detail_path
from stages.common.manifest import Manifest
from stages.common.na import NA

log = logging.getLogger(__name__)

# Counts each funnel stage may record, most specific first. Stages name them differently
# (clean: totals.docs_out, dedup: documents_out, tokenizer: n_tokens.{train,valid}), so the
# report takes the shallowest key whose last part is the first of these it finds.
FUNNEL_KEYS = {
    "documents": (
        "docs_out",
        "documents_out",
        "docs_kept",
        "docs_written",
        "n_docs",
        "docs",
        "documents",
        "kept",
    ),
    "characters": ("chars_out", "characters_out", "n_chars", "chars", "characters"),
    "tokens": ("tokens_out", "n_tokens", "tokens"),
}


def load_json(path: Path) -> Any | None:
    """Parsed JSON, or None (logged) when the file is absent or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        log.warning("%s: not found; the report leaves its part out", path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        log.warning("%s: not valid JSON (%s); the report leaves its part out", path, e)
    return None


def with_na(
    flat: dict[str, Any], details: dict[str, dict[str, Any] | None], manifest: Manifest
) -> dict[str, Any]:
    """metrics.json's figures with its n/a figures put back as NA.

    metrics.json holds numbers only, so evaluate leaves out a figure it could not measure and
    files the reason under the same key in metrics/evaluate/<family>.json "na" (a map of key to
    reason, or one reason for the whole family). The report shows each as n/a with its reason.
    """
    out = dict(flat)
    for family, detail in details.items():
        na = (detail or {}).get("na")
        declared = [m.key for m in manifest.of_family(family)]
        keys = declared if isinstance(na, str) and na else [k for k in declared if k in (na or {})]
        for key in keys:
            out.setdefault(key, NA)
    return out


def load_summary(path: Path) -> dict[str, Any] | None:
    """A stage's metrics file merged with its detail (stages.common.io.write_metrics wrote the
    numbers to `path` and the rest beside it); None when `path` is absent or unreadable."""
    data = load_json(path) if path.exists() else None
    if not isinstance(data, dict):
        return None
    info = detail_path(path)
    detail = load_json(info) if info.exists() else None
    return _merge(data, detail) if isinstance(detail, dict) else data


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": value}, the way `dvc metrics show` names keys."""
    if not isinstance(obj, dict):
        return {prefix: obj} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, dict):  # per-split counts, e.g. n_tokens: {train, valid}
        parts = [v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return int(sum(parts)) if parts else None
    return None


def find_count(metrics: dict[str, Any], names: tuple[str, ...]) -> tuple[int | None, str | None]:
    """The first of `names` found (shallowest wins) as a count, with the key it came from."""
    for name in names:
        hits = []
        stack: list[tuple[str, Any]] = [("", metrics)]
        while stack:
            path, node = stack.pop()
            for k, v in node.items():
                key = f"{path}.{k}" if path else str(k)
                if k == name and _count(v) is not None:
                    hits.append((key.count("."), key, _count(v)))
                elif isinstance(v, dict):
                    stack.append((key, v))
        if hits:
            _, key, value = min(hits)
            return value, key
    return None, None


def funnel(files: tuple[tuple[str, Path], ...], loaded: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stage of `files` (stage, its metrics file), from its metrics as `loaded`
    (stage: parsed JSON, None when absent): {stage, file, found, documents, characters, tokens, keys}."""
    rows = []
    for stage, path in files:
        data = loaded.get(stage)
        row: dict[str, Any] = {"stage": stage, "file": str(path), "found": isinstance(data, dict), "keys": {}}
        for what, names in FUNNEL_KEYS.items():
            value, key = find_count(data, names) if isinstance(data, dict) else (None, None)
            row[what] = value
            if key:
                row["keys"][what] = key
        rows.append(row)
    return rows


def read_curves(root: Path) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """dvclive curves: {"pretrain": {"train/loss": [(step, value), ...]}, "finetune/classify": ...}."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for tsv in sorted(root.glob("**/plots/metrics/**/*.tsv")):
        rel = tsv.relative_to(root).as_posix()
        run, _, metric = rel.partition("/plots/metrics/")
        points, skipped = [], 0
        with open(tsv, encoding="utf-8", newline="") as f:
            for rec in csv.DictReader(f, delimiter="\t"):
                name = next((c for c in reversed(list(rec)) if c not in ("step", "timestamp")), None)
                try:
                    points.append((float(rec["step"]), float(rec[name])))
                except (KeyError, TypeError, ValueError):
                    skipped += 1  # e.g. a torn last line of an interrupted run
        if skipped:
            log.warning("%s: skipped %d unreadable row(s)", tsv, skipped)
        if points:
            out.setdefault(run, {})[metric.removesuffix(".tsv")] = points
    return out

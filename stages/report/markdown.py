"""Markdown building blocks of reports/report.md, and the sections of the first families.

Every section function returns its lines and the metrics.json keys it showed, so that the
report can list whatever no section showed: no figure is ever hidden. A section finds its
figures through metrics/manifest.json: `cells` places a family's entries by system, measure,
axis point and bound, and a row or column takes its header from the entries' labels.
"""

from __future__ import annotations

import math
from typing import Any

from stages.common.manifest import BPB, MODEL, NATS, PPL, Manifest, Metric, System
from stages.common.na import NA
from stages.report.families import inapplicable, na_notes

Lines = list[str]
Cell = tuple[str | None, str, Any, str | None]  # (system, measure, axis point, bound)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value).replace("|", "\\|")


def table(header: list[str], rows: list[list[Any]], digits: int = 4) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c, digits) for c in row) + " |" for row in rows]
    return lines + [""]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def pick(flat: dict[str, Any], key: str, used: set[str]) -> Any:
    """flat[key] (None when absent), recording that the report showed it."""
    if key in flat:
        used.add(key)
    return flat.get(key)


def value(flat: dict[str, Any], entry: Metric | None, used: set[str]) -> Any:
    """The figure of a manifest entry (None when there is no entry or no figure), recorded as shown."""
    return pick(flat, entry.key, used) if entry else None


def cells(entries: list[Metric]) -> dict[Cell, Metric]:
    """Entries by their place in a family's tables: (system, measure, axis point, bound)."""
    return {(m.system, m.measure, m.at, m.bound): m for m in entries}


def present(manifest: Manifest, family: str, flat: dict[str, Any]) -> list[Metric]:
    """The family's entries that metrics/metrics.json has a figure for, in evaluate's order."""
    return [m for m in manifest.of_family(family) if m.key in flat]


def measures(entries: list[Metric]) -> list[Metric]:
    """The first entry of each measure among `entries` (bounds left out), in order: its label
    heads the measure's row or column."""
    first: dict[str, Metric] = {}
    for m in entries:
        if m.bound is None:
            first.setdefault(m.measure, m)
    return list(first.values())


def systems_of(manifest: Manifest, family: str, entries: list[Metric]) -> list[System]:
    """The family's declared systems that some of `entries` belong to, in declared order."""
    info = manifest.family(family)
    names = {m.system for m in entries}
    return [s for s in (info.systems if info else ()) if s.name in names]


def ends(
    at: dict[Cell, Metric], system: str | None, measure: str, point: Any = None
) -> tuple[Metric | None, Metric | None]:
    """The low and high bound entries of a measure's interval at a point (None where not declared)."""
    return at.get((system, measure, point, "low")), at.get((system, measure, point, "high"))


def ci_cell(
    flat: dict[str, Any], bounds: tuple[Metric | None, Metric | None] | None, used: set[str], digits: int
) -> str:
    """`[low, high]` from an interval's bound entries; n/a or a dash when they are not numbers."""
    low, high = (value(flat, m, used) for m in (bounds or (None, None)))
    if is_number(low) and is_number(high):
        return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
    return NA if NA in (low, high) else "—"


def method_lines(detail: dict[str, Any] | None) -> Lines:
    return [f"Method: {detail['method']}.", ""] if detail and detail.get("method") else []


def lm_section(
    family: str, flat: dict[str, Any], detail: dict[str, Any] | None, digits: int, manifest: Manifest
) -> tuple[Lines, set[str]]:
    """The language model's figures beside the unigram baseline and a uniform distribution."""
    info = manifest.family(family)
    out = [f"## Language model ({family}) on {info.data if info else 'its validation data'}", ""]
    used: set[str] = set()
    entries = manifest.of_family(family)
    if not any(m.key in flat for m in entries):
        return out + [f"No `{family}.*` figures in metrics/metrics.json: run `dvc repro evaluate`.", ""], used
    detail = detail or {}
    objective = detail.get("objective")
    systems = systems_of(manifest, family, entries)
    at = cells(entries)
    rows, skip = [], set()
    # One row per measure of the model, with every system's figure of it; counts are listed below.
    for m in measures([e for e in entries if e.system == MODEL and e.key in flat]):
        row = [at.get((s.name, m.measure, None, None)) for s in systems]
        values = [value(flat, e, used) for e in row]
        if inapplicable(m, flat[m.key], objective):
            skip |= {e.key for e in row if e}
            continue  # a figure of the other objective (causal vs masked)
        rows.append([m.label, *values, uniform_baseline(m.unit, detail)])
    out += table(["metric", *(s.label for s in systems), "uniform baseline"], rows, digits)
    if detail:
        out += [f"Objective: {detail.get('objective')}; {fmt(detail.get('target_tokens'))} target tokens "
                f"in {fmt(detail.get('windows'))} windows of context {fmt(detail.get('context_length'))}.", ""]  # fmt: skip
        out += [f"Method: {detail.get('method', 'not recorded')}.", ""]
    return out + na_notes(used, flat, {family: detail}, family, skip), used


def uniform_baseline(unit: str, detail: dict[str, Any]) -> float | None:
    """A uniform distribution over the vocabulary, in `unit`, from the LM detail (None when unknown)."""
    uniform = detail.get("uniform_loss")
    if uniform is None:
        return None
    if unit == NATS:
        return uniform
    if unit == PPL:
        return math.exp(uniform)
    if unit == BPB and detail.get("bytes_estimated"):
        return uniform * detail.get("target_tokens", 0) / math.log(2) / detail["bytes_estimated"]
    return None


def task_section(
    task: str, flat: dict[str, Any], detail: dict[str, Any] | None, digits: int, manifest: Manifest
) -> tuple[Lines, set[str]]:
    """One row per system of a classification task: each score with its interval."""
    info = manifest.family(task)
    out = [f"## Task `{task}` on {info.data if info else 'its test split'}", ""]
    used: set[str] = set()
    entries = manifest.of_family(task)
    at = cells(entries)
    scores = measures([m for m in entries if m.system is not None])
    header, rows = ["system"], []
    for m in scores:
        header.append(m.label)
        bounds = manifest.interval(m)
        header += [bounds[0].label] if bounds else []
    for s in info.systems if info else ():
        row: list[Any] = [s.label]
        for m in scores:
            row.append(value(flat, at.get((s.name, m.measure, None, None)), used))
            if manifest.interval(m):
                row.append(ci_cell(flat, ends(at, s.name, m.measure), used, digits))
        rows.append(row)
    out += table(header, rows, digits)
    out += [f"{fmt(value(flat, at.get((None, 'n', None, None)), used))} test examples.", ""]
    out += method_lines(detail) + na_notes(used, flat, {task: detail}, task)
    counts = (detail or {}).get("test_class_counts")
    if counts:
        names = detail.get("labels", [])
        out += ["Test classes: " + ", ".join(f"{n} {fmt(c)}" for n, c in zip(names, counts)) + ".", ""]
    return out, used


def funnel_section(rows: list[dict[str, Any]], plotted: bool) -> list[str]:
    out = ["## Data funnel", ""]
    body, prev = [], None
    for r in rows:
        kept = None
        if r["documents"] is not None and prev:
            kept = f"{100 * r['documents'] / prev:.1f}%"
        body.append([r["stage"], r["documents"], r["characters"], r["tokens"], kept])
        prev = r["documents"] if r["documents"] is not None else prev
    out += table(["after stage", "documents", "characters", "tokens", "documents kept"], body)
    if plotted:
        out += ["![data funnel](funnel.png)", ""]
    missing = [r["file"] for r in rows if not r["found"]]
    if missing:
        out += [f"Not found (stage not run yet): {', '.join(missing)}.", ""]
    used = [
        f"{r['stage']}: " + ", ".join(f"{w} = `{k}`" for w, k in r["keys"].items()) for r in rows if r["keys"]
    ]
    out += [
        "Counts are read from each stage's metrics JSON: documents from the first key named "
        "docs_out, documents_out, n_docs, docs or documents; characters from chars_out or chars; tokens "
        "from n_tokens or tokens (per-split counts are summed). A dash means the stage did not record it.",
        "",
    ]
    if used:
        out += ["Keys used: " + "; ".join(used) + ".", ""]
    return out


def clean_sources_section(clean: dict[str, Any] | None, top: int = 3) -> list[str]:
    """Per collect source: documents in and kept by clean, and the rules that dropped the most."""
    sources = (clean or {}).get("sources")
    if not isinstance(sources, dict) or not sources:
        return []
    rows = []
    for name, s in sorted(sources.items()):
        shares = [
            (share, f"{step}-{reason}")
            for step, by_reason in (s.get("drop_shares") or {}).items()
            for reason, share in by_reason.items()
        ]
        worst = ", ".join(f"{rule} {100 * share:.1f}%" for share, rule in sorted(shares, reverse=True)[:top])
        chars = s.get("char_share_kept")
        rows.append(
            [
                name,
                s.get("docs_in"),
                s.get("docs_out"),
                f"{100 * s['drop_share']:.1f}%" if "drop_share" in s else None,
                f"{100 * chars:.1f}%" if chars is not None else None,
                worst or "none",
            ]
        )
    header = ["source", "documents in", "kept", "dropped", "characters kept", "rules dropping most"]
    return [
        "### Clean: drops per source",
        "",
        *table(header, rows),
        "Each source is judged by its kind's rules (`clean.quality.source_kinds`); a rule's share is of "
        "the source's documents, counting the first rule a document fails. `clean.warn_drop_share` "
        "sets the share over which the stage warns.",
        "",
    ]


def flat_section(title: str, metrics: dict[str, Any], digits: int) -> list[str]:
    rows = [[f"`{k}`", v] for k, v in sorted(metrics.items()) if not isinstance(v, (list, dict))]
    return [f"### {title}", ""] + (table(["metric", "value"], rows, digits) if rows else ["(empty)", ""])


def stage_times_section(times: list[tuple[str, float | None]]) -> list[str]:
    """Each stage's wall time (`stage_seconds` in its metrics) with its share of the total, so
    a slower stage shows in the report's diff; a stage without the key reads n/a."""
    measured = [s for _, s in times if s is not None]
    if not measured:
        return []
    total = sum(measured)
    rows = [[f"`{name}`", "n/a" if s is None else f"{s:.1f}", "" if s is None else f"{100 * s / total:.0f}%"]
            for name, s in times]  # fmt: skip
    rows.append(["total", f"{total:.1f} ({total / 60:.1f} min)", "100%"])
    note = "Wall seconds of each stage's last run, imports included (`stage_seconds`)."
    return ["## Stage times", "", note, ""] + table(["stage", "seconds", "share"], rows)

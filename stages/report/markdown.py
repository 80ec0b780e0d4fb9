"""Markdown building blocks of reports/report.md, and the sections of the first families.

Every section function returns its lines and the metrics.json keys it showed, so that the
report can list whatever no section showed: no figure is ever hidden.
"""

from __future__ import annotations

import math
from typing import Any

from stages.common.manifest import BPB, NATS, PPL, Manifest
from stages.common.na import NA
from stages.report.families import inapplicable, na_notes

SYSTEMS = (
    ("fine-tuned model", ""),
    ("majority class (baseline)", "majority."),
    ("TF-IDF + logistic regression (baseline)", "tfidf."),
)
Lines = list[str]


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


def ci_cell(flat: dict[str, Any], key: str, used: set[str], digits: int) -> str:
    """`[low, high]` from `<key>_ci_low` / `<key>_ci_high`; n/a or a dash when they are not numbers."""
    low, high = pick(flat, f"{key}_ci_low", used), pick(flat, f"{key}_ci_high", used)
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
    rows, skip = [], set()
    for m in entries:
        if not m.baselines:
            continue  # a baseline's figure (in its column) or a count (listed below the table)
        model, base = pick(flat, m.key, used), pick(flat, m.baselines[0], used)
        if model is None:
            continue
        if inapplicable(m, model, objective):
            skip |= {m.key, *m.baselines}
            continue  # a figure of the other objective (causal vs masked)
        rows.append([m.label, model, base, uniform_baseline(m.unit, detail)])
    out += table(["metric", "model", "unigram baseline", "uniform baseline"], rows, digits)
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
    info = manifest.family(task)
    out = [f"## Task `{task}` on {info.data if info else 'its test split'}", ""]
    used: set[str] = set()
    rows = []
    for label, prefix in SYSTEMS:
        base = f"{task}.{prefix}test."
        rows.append([label, pick(flat, base + "acc", used), ci_cell(flat, base + "acc", used, digits),
                     pick(flat, base + "macro_f1", used), ci_cell(flat, base + "macro_f1", used, digits)])  # fmt: skip
    out += table(["system", "accuracy", "accuracy CI", "macro-F1", "macro-F1 CI"], rows, digits)
    out += [f"{fmt(pick(flat, f'{task}.test.n', used))} test examples.", ""]
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


def flat_section(title: str, metrics: dict[str, Any], digits: int) -> list[str]:
    rows = [[f"`{k}`", v] for k, v in sorted(metrics.items()) if not isinstance(v, (list, dict))]
    return [f"### {title}", ""] + (table(["metric", "value"], rows, digits) if rows else ["(empty)", ""])

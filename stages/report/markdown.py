"""Markdown building blocks of reports/report.md, and the sections of the first families.

Every section function returns its lines and the metrics.json keys it showed, so that the
report can list whatever no section showed: no figure is ever hidden.
"""

from __future__ import annotations

import math
import re
from typing import Any

from stages.report.families import FAMILIES, na_notes

NA = "n/a"
LM_ROWS = (
    ("validation loss (nats/token)", "val_loss"),
    ("perplexity", "val_ppl"),
    ("bits per byte", "val_bpb"),
    ("masked-LM loss (nats/masked token)", "val_mlm_loss"),
    ("masked-LM pseudo-perplexity", "val_mlm_pseudo_ppl"),
)
SYSTEMS = (
    ("fine-tuned model", ""),
    ("majority class (baseline)", "majority."),
    ("TF-IDF + logistic regression (baseline)", "tfidf."),
)
# Classifiers scored on another task's test split (contracts: the adversarially trained model
# is scored on the clean classify test), for the section title when the detail does not say.
TASK_TEST = {"adversarial": "classify"}
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


def lm_section(flat: dict[str, Any], detail: dict[str, Any] | None, digits: int) -> tuple[Lines, set[str]]:
    out = ["## Language model (pretrain) on data/tokens/valid.bin", ""]
    used: set[str] = set()
    if not any(k.startswith("pretrain.") for k in flat):
        return out + ["No `pretrain.*` figures in metrics/metrics.json: run `dvc repro evaluate`.", ""], used
    detail = detail or {}
    uniform = detail.get("uniform_loss")
    objective = detail.get("objective")
    rows = []
    for label, key in LM_ROWS:
        model = pick(flat, f"pretrain.{key}", used)
        base = pick(flat, f"pretrain.unigram.{key}", used)
        masked = "mlm" in key
        if model is None or (model == NA and objective in ("clm", "mlm") and masked != (objective == "mlm")):
            continue  # a family that does not apply to this objective (causal vs masked)
        uni = None
        if uniform is not None and key.endswith("loss"):
            uni = uniform
        elif uniform is not None and key.endswith("ppl"):
            uni = math.exp(uniform)
        elif uniform is not None and key == "val_bpb" and detail.get("bytes_estimated"):
            uni = uniform * detail.get("target_tokens", 0) / math.log(2) / detail["bytes_estimated"]
        rows.append([label, model, base, uni])
    out += table(["metric", "model", "unigram baseline", "uniform baseline"], rows, digits)
    if detail:
        out += [f"Objective: {detail.get('objective')}; {fmt(detail.get('target_tokens'))} target tokens "
                f"in {fmt(detail.get('windows'))} windows of context {fmt(detail.get('context_length'))}.", ""]  # fmt: skip
        out += [f"Method: {detail.get('method', 'not recorded')}.", ""]
    return out + na_notes(used, flat, {"pretrain": detail}, "pretrain"), used


def tasks_in(flat: dict[str, Any]) -> list[str]:
    """Classification tasks: the families with a `<task>.test.acc` figure, `classify` first."""
    found = {m.group(1) for k in flat if (m := re.fullmatch(r"([^.]+)\.test\.acc", k))}
    return sorted(found - set(FAMILIES), key=lambda t: (t != "classify", t))


def task_section(
    task: str, flat: dict[str, Any], detail: dict[str, Any] | None, digits: int
) -> tuple[Lines, set[str]]:
    test = (detail or {}).get("test") or f"data/tasks/{TASK_TEST.get(task, task)}/test.parquet"
    out = [f"## Task `{task}` on {test}", ""]
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

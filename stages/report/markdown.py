"""Markdown sections of reports/report.md: every figure beside its baselines, and the funnel."""

from __future__ import annotations

import math
import re
from typing import Any

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


def lm_section(flat: dict[str, Any], detail: dict[str, Any] | None, digits: int) -> list[str]:
    out = ["## Language model (pretrain) on data/tokens/valid.bin", ""]
    if not any(k.startswith("pretrain.") for k in flat):
        return out + ["No `pretrain.*` figures in metrics/metrics.json: run `dvc repro evaluate`.", ""]
    detail = detail or {}
    reasons = detail.get("na", {})
    uniform = detail.get("uniform_loss")
    objective = detail.get("objective")
    rows = []
    for label, key in LM_ROWS:
        model, base = flat.get(f"pretrain.{key}"), flat.get(f"pretrain.unigram.{key}")
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
    out += [f"- `{k}` is n/a: {r}" for k, r in sorted(reasons.items()) if "do not apply" not in r]
    return out + [""]


def tasks_in(flat: dict[str, Any]) -> list[str]:
    return sorted({m.group(1) for k in flat if (m := re.fullmatch(r"([^.]+)\.test\.acc", k))})


def task_section(task: str, flat: dict[str, Any], detail: dict[str, Any] | None, digits: int) -> list[str]:
    out = [f"## Task `{task}` on data/tasks/{task}/test.parquet", ""]
    rows = []
    for label, prefix in SYSTEMS:
        get = lambda key, p=prefix: flat.get(f"{task}.{p}test.{key}")  # noqa: E731
        rows.append([label, get("acc"), _ci(get("acc_ci_low"), get("acc_ci_high"), digits),
                     get("macro_f1"), _ci(get("macro_f1_ci_low"), get("macro_f1_ci_high"), digits)])  # fmt: skip
    out += table(["system", "accuracy", "accuracy CI", "macro-F1", "macro-F1 CI"], rows, digits)
    out += [f"{fmt(flat.get(f'{task}.test.n'))} test examples.", ""]
    if detail:
        out += [f"Method: {detail.get('method', 'not recorded')}.", ""]
        out += [
            f"- `{task}` {system} is n/a: {reason}" for system, reason in sorted(detail.get("na", {}).items())
        ]
        counts = detail.get("test_class_counts")
        if counts:
            out += [
                "",
                "Test classes: "
                + ", ".join(f"{n} {fmt(c)}" for n, c in zip(detail.get("labels", []), counts))
                + ".",
            ]
    return out + [""]


def _ci(low: Any, high: Any, digits: int) -> str:
    if isinstance(low, float) and isinstance(high, float):
        return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
    return NA if NA in (low, high) else "—"


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

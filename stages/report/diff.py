"""`python -m stages.report --against REV`: metrics and params of the workspace vs a git revision.

It runs `dvc metrics diff --json REV` and `dvc params diff --json REV` (what their `--md`
forms show), groups the changes by family (stages.report.families.family_of) for
metrics/metrics.json, by stage (the key's first part) for params.yaml and by file name for
other metrics files, and marks each metric change better or worse (KEY_RULES, then the
words of the key's last part).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from stages.common.errors import PipelineError
from stages.report.families import NA, family_of
from stages.report.markdown import table

LOWER_IS_BETTER = {"loss", "ppl", "perplexity", "bpb", "error", "err", "wer", "cer"}
HIGHER_IS_BETTER = {"acc", "accuracy", "f1", "precision", "recall", "auc", "bleu", "rouge", "em"}
# Checked on the whole key, in order, before the words of its last part. A count says how
# much was measured, not how well: it is neutral. For a planted canary, rank 1 means the
# model ranks the true secret above every random candidate (memorised), so a HIGHER rank
# is better, and exposure (log2 of candidates+1 over the rank) is lower-is-better.
KEY_RULES: tuple[tuple[str, str | None], ...] = (
    (r"(^|\.)(n|n_\w+|count|support|in_training_data|exposure_max_possible)$", None),
    (r"(^|\.)attack\.success_rate$", "lower"),
    (r"(^|\.)canary\.rank\w*$", "higher"),
    (r"(^|\.)exposure\w*$", "lower"),
    (r"(^|\.)pii\w*$", "lower"),
    (r"^privacy\.samples\.[^.]+$", "lower"),  # PII-shaped strings of each type in model samples
)


def dvc_json(*args: str) -> dict[str, Any]:
    """Run `dvc <args> --json` and parse its output; PipelineError with dvc's own words on failure."""
    cmd = [sys.executable, "-m", "dvc", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PipelineError(
            f"`dvc {' '.join(args)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
        )
    try:
        return json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        raise PipelineError(f"`dvc {' '.join(args)} --json` printed no JSON: {proc.stdout[:300]!r}") from None


def direction(key: str) -> str | None:
    """'lower' or 'higher' is better for this metric, or None when it is neutral or the name does not say."""
    for pattern, better in KEY_RULES:
        if re.search(pattern, key):
            return better
    words = set(re.split(r"[._/\-]", key.rsplit(".", 1)[-1].lower()))
    if words & LOWER_IS_BETTER:
        return "lower"
    if words & HIGHER_IS_BETTER:
        return "higher"
    return None


def verdict(key: str, old: Any, new: Any) -> str:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    if old != new and NA in (old, new):
        return "now n/a" if new == NA else "now measured"
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (old, new))
    if not numeric or (isinstance(new, float) and math.isnan(new)):
        return "changed"
    if new == old:
        return "same"
    better = direction(key)
    if better is None:
        return "changed"
    return "better" if (new < old) == (better == "lower") else "worse"


def group_of(path: str, key: str) -> str:
    """The family or stage a change belongs to: from the key in the shared files, else the file's name."""
    p = Path(path)
    if p.name == "metrics.json":
        return family_of(key)
    if p.name == "params.yaml" or len(p.parts) == 1:
        return key.split(".", 1)[0]
    rel = p.relative_to(p.parts[0]) if p.parts[0] == "metrics" else p
    return rel.with_suffix("").as_posix()


def diff_markdown(rev: str, metrics: dict[str, Any], params: dict[str, Any]) -> str:
    """Markdown of the two `dvc ... diff --json` results, one table per family or stage."""
    lines = [f"# Changes against `{rev}`", ""]
    for title, data, is_metric in (("Metrics", metrics, True), ("Params", params, False)):
        groups: dict[str, list[list[Any]]] = {}
        for path, changes in sorted(data.items()):
            for key, change in sorted((changes or {}).items()):
                old, new = change.get("old"), change.get("new")
                row = [f"`{key}`", old, new]
                if is_metric:
                    diff = change.get("diff")
                    row += [diff if isinstance(diff, (int, float)) else None, verdict(key, old, new)]
                groups.setdefault(group_of(path, key), []).append(row)
        lines += [f"## {title}", ""]
        if not groups:
            lines += [f"No {title.lower()} changed.", ""]
        header = ["key", rev, "workspace"] + (["change", "verdict"] if is_metric else [])
        for group, rows in sorted(groups.items()):
            tally = Counter(row[-1] for row in rows if row[-1] in ("better", "worse")) if is_metric else {}
            counts = ", ".join(f"{tally[v]} {v}" for v in ("better", "worse") if tally.get(v))
            lines += [f"### {group}" + (f" ({counts})" if counts else ""), ""] + table(header, rows)
    return "\n".join(lines)


def against(rev: str) -> str:
    # Unchanged metrics are left out (dvc's default), so the tables show only what moved.
    metrics = dvc_json("metrics", "diff", rev)
    params = dvc_json("params", "diff", rev)
    return diff_markdown(rev, metrics, params)

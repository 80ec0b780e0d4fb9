"""`python -m stages.report --against REV`: metrics and params of the workspace vs a git revision.

It runs `dvc metrics diff --json REV` and `dvc params diff --json REV`, groups the changes
by stage (the key's first part in metrics/metrics.json and params.yaml, the file name for
other metrics files) and marks each metric change better or worse.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from stages.common.errors import PipelineError
from stages.report.markdown import table

LOWER_IS_BETTER = {"loss", "ppl", "perplexity", "bpb", "error", "err", "wer", "cer"}
HIGHER_IS_BETTER = {"acc", "accuracy", "f1", "precision", "recall", "auc", "bleu", "rouge", "em"}


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
    """'lower' or 'higher' is better for this metric name, or None when the name does not say."""
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
    """The stage a change belongs to: key prefix in the shared files, else the file's name."""
    p = Path(path)
    if p.name in ("metrics.json", "params.yaml") or len(p.parts) == 1:
        return key.split(".", 1)[0]
    rel = p.relative_to(p.parts[0]) if p.parts[0] == "metrics" else p
    return rel.with_suffix("").as_posix()


def diff_markdown(rev: str, metrics: dict[str, Any], params: dict[str, Any]) -> str:
    """Markdown of the two `dvc ... diff --json` results, one table per stage."""
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
            lines += [f"### {group}", ""] + table(header, rows)
    return "\n".join(lines)


def against(rev: str) -> str:
    # Unchanged metrics are left out (dvc's default), so the tables show only what moved.
    metrics = dvc_json("metrics", "diff", rev)
    params = dvc_json("params", "diff", rev)
    return diff_markdown(rev, metrics, params)

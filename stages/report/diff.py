"""`python -m stages.report --against REV`: metrics and params of the workspace vs a git revision.

It runs `dvc metrics diff --json REV` and `dvc params diff --json REV` (what their `--md`
forms show), groups the changes by family (from metrics/manifest.json) for
metrics/metrics.json, by stage (the key's first part) for params.yaml and by file name for
other metrics files, and gives each metric change a verdict from the manifest's direction:
better, worse or same. A key the manifest gives no direction (a count, a size, a timing) or
does not describe (the training summaries of other metrics files) only "changed".

A timing (`is_timing`) moves on every run, so the pull-request comment (comment.py) keeps
timings out of its verdicts and out of "no change".
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from stages.common.errors import PipelineError
from stages.common.manifest import SECONDS, Manifest
from stages.common.manifest import read as read_manifest
from stages.common.na import is_na
from stages.report import paths
from stages.report.families import family_of
from stages.report.markdown import table


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


# The one rule for what a timing is: a duration or a rate per second (a leaf name ending in one
# of these suffixes), a model-FLOPs utilisation, or a manifest entry in seconds. The tests hold
# it against every key a tiny run writes.
TIMING_SUFFIXES = ("_s", "_seconds")
TIMING_NAMES = frozenset({"mfu"})


def is_timing(key: str, manifest: Manifest | None = None) -> bool:
    """True for a key that measures time or speed: it moves on every run and carries no verdict."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf.endswith(TIMING_SUFFIXES) or leaf in TIMING_NAMES:
        return True
    entry = manifest.metrics.get(key) if manifest is not None else None
    return entry is not None and entry.unit == SECONDS


def direction(path: str, key: str, manifest: Manifest | None) -> str | None:
    """'higher' or 'lower' is better, as the manifest says; None for a key it gives no direction
    or does not describe (it describes metrics/metrics.json only)."""
    if manifest is None or Path(path).name != paths.METRICS_FILE.name:
        return None
    entry = manifest.metrics.get(key)
    return entry.direction if entry else None


def verdict(old: Any, new: Any, better: str | None) -> str:
    """better / worse / same for a metric with a direction; otherwise what happened to it."""
    if old is None:
        return "added"
    if new is None:
        return "removed"
    if old != new and (is_na(old) or is_na(new)):
        return "now n/a" if is_na(new) else "now measured"
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (old, new))
    if not numeric or (isinstance(new, float) and math.isnan(new)):
        return "changed"
    if new == old:
        return "same"
    if better is None:
        return "changed"
    return "better" if (new < old) == (better == "lower") else "worse"


def judge(path: str, key: str, old: Any, new: Any, manifest: Manifest | None) -> tuple[str | None, str]:
    """The direction and the verdict of one metric change: the one place that `--against` and the
    pull-request comment ask, so a verdict for a key the manifest declares but the run lacks
    belongs here."""
    better = direction(path, key, manifest)
    return better, na_verdict(path, key, old, new, manifest) or verdict(old, new, better)


def na_verdict(path: str, key: str, old: Any, new: Any, manifest: Manifest | None) -> str | None:
    """The verdict where a side of a metrics.json change is n/a ("now n/a", "now measured",
    "still n/a"); None where neither is. metrics.json leaves an n/a figure out (numbers only; older revisions wrote
    "n/a"), so a key the manifest declares that is absent on one side is n/a there, not removed
    or added: evaluate writes every declared key or its reason."""
    declared = manifest is not None and Path(path).name == paths.METRICS_FILE.name and key in manifest.metrics
    was, now = is_na(old) or (old is None and declared), is_na(new) or (new is None and declared)
    if was and now:
        return "still n/a"
    if was or now:
        return "now n/a" if now else "now measured"
    return None


def group_of(path: str, key: str, manifest: Manifest | None) -> str:
    """The family or stage a change belongs to: from the manifest for metrics.json, else the file's name."""
    p = Path(path)
    if p.name == paths.METRICS_FILE.name:
        return family_of(key, manifest)
    if p.name == "params.yaml" or len(p.parts) == 1:
        return key.split(".", 1)[0]
    rel = p.relative_to(p.parts[0]) if p.parts[0] == "metrics" else p
    return rel.with_suffix("").as_posix()


def diff_markdown(
    rev: str, metrics: dict[str, Any], params: dict[str, Any], manifest: Manifest | None = None
) -> str:
    """Markdown of the two `dvc ... diff --json` results, one table per family or stage; verdicts
    from `manifest` (none without one)."""
    lines = [f"# Changes against `{rev}`", ""]
    for title, data, is_metric in (("Metrics", metrics, True), ("Params", params, False)):
        groups: dict[str, list[list[Any]]] = {}
        for path, changes in sorted(data.items()):
            for key, change in sorted((changes or {}).items()):
                old, new = change.get("old"), change.get("new")
                row = [f"`{key}`", old, new]
                if is_metric:
                    diff = change.get("diff")
                    row += [
                        diff if isinstance(diff, (int, float)) else None,
                        judge(path, key, old, new, manifest)[1],
                    ]
                groups.setdefault(group_of(path, key, manifest), []).append(row)
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
    return diff_markdown(rev, metrics, params, read_manifest(paths.MANIFEST_FILE))

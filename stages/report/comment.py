"""The pull-request metrics comment: what the PR changed and what it did to the metrics.

    python -m stages.report.comment --against RUN_REV --params-base BASE_REV --base-dir ../base

RUN_REV is a commit of the base side's reproduced run (its metrics and the params it ran
with); the workspace holds the pull request's run. BASE_REV and --params-head (default HEAD)
are the two sides as their authors wrote them, before any CI profile was composed over them:
`dvc params diff BASE_REV HEAD` is the PR's change. `dvc params diff RUN_REV` is what the runs
saw, so a change that a CI profile overrode (--profile, default ci) is marked and said to be
unseen, never reported as having no effect. Without --params-base the two are the same
(the full-fidelity path runs the default profile on both sides).

Sections, in this order: a headline (no change, or how many quality metrics got better and
worse), the changed params, the quality metrics with their verdicts (metrics/manifest.json
gives each its direction), then folded detail: base-versus-PR plots (mermaid charts, which
GitHub draws without image hosting), the timings, and every other changed key. The comment
stays under --limit characters (GitHub refuses 65,536): detail rows are cut first, then
param rows, and the cut is stated; the verdicts are never cut.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.common.compose import overlay_path
from stages.common.errors import PipelineError
from stages.common.manifest import Manifest
from stages.common.manifest import read as read_manifest
from stages.report import paths
from stages.report.diff import direction, dvc_json, is_timing, judge
from stages.report.markdown import fmt, table
from stages.report.sources import flatten, read_curves

MARKER = "<!-- llm-pipeline metrics diff -->"  # pr-comment.yml finds the one comment by it
LIMIT = 40_000  # characters; GitHub's limit is 65,536, and the marker and wrappers need room
HEADLINE_METRICS = ("pretrain.val_ppl", "classify.test.acc", "ner.gold.f1", "domain.tuned.test_ppl")
LOSS_CURVES = ("train/loss", "val/loss")  # of pretrain's dvclive run
CURVE_POINTS = 15  # points per line after downsampling: the chart stays small and legible
MOVED = ("worse", "better")  # quality verdicts that count as an effect, in the order shown
ARROW = {"higher": "↑", "lower": "↓"}


@dataclass
class Section:
    """A part of the comment; `cut` orders what is trimmed first (0 = never trimmed)."""

    head: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    fold: str | None = None  # a <details> summary: the section is folded
    cut: int = 0
    dropped: int = 0

    def render(self, limit: int) -> list[str]:
        body = list(self.head)
        if self.rows or self.dropped:
            body += table(self.header, self.rows) if self.header else [str(r[0]) for r in self.rows]
        if self.dropped:
            what = "rows" if self.header else "charts"
            body += [f"*{self.dropped} more {what} cut to keep this comment under {limit:,} characters; "
                     "full.md in the CI run's `comment` artifact holds them all.*", ""]  # fmt: skip
        body += self.tail
        if self.fold is None:
            return body
        return ["<details>", f"<summary>{self.fold}</summary>", "", *body, "</details>", ""]


def overridden_keys(profile: str | None) -> dict[str, Any]:
    """The dotted params.yaml keys a CI profile sets, with their values (leaves; a list is one leaf)."""
    if not profile:
        return {}
    import yaml

    path = overlay_path(profile)
    if not path.exists():
        raise PipelineError(f"{path}: no such profile; pass --profile none for a run of the default profile")
    return flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def set_by(key: str, overridden: dict[str, Any]) -> str | None:
    """The overlay key that sets `key` (itself or a list or scalar above it), or None."""
    parts = key.split(".")
    return next((k for i in range(1, len(parts) + 1) if (k := ".".join(parts[:i])) in overridden), None)


def _flat(diff: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, key): change for path, changes in diff.items() for key, change in (changes or {}).items()}


def param_rows(
    authored: dict[str, Any], effective: dict[str, Any], overridden: dict[str, Any]
) -> tuple[list[list[Any]], list[str]]:
    """Rows (key, base, PR, in the CI run) of the PR's param changes, and the keys CI could not see."""
    seen = _flat(effective)
    rows, unseen = [], []
    for (path, key), change in sorted(_flat(authored).items()):
        old, new = change.get("old"), change.get("new")
        ran = seen.get((path, key))
        label = f"`{key}`" if Path(path).name == "params.yaml" else f"`{key}` ({path})"
        if ran is not None and ran.get("new") == new and ran.get("old") == old:
            status = "seen"
        elif Path(path).name == "params.yaml" and (by := set_by(key, overridden)):
            status = f"**set by CI** to {fmt(overridden[by])}: not seen"
            unseen.append(key)
        elif ran is not None:
            status = f"ran as {fmt(ran.get('old'))} → {fmt(ran.get('new'))}"
        else:
            status = "**not seen** by the CI run"
            unseen.append(key)
        rows.append([label, old, new, status])
    return rows, unseen


def split_metrics(
    metrics: dict[str, Any], manifest: Manifest | None
) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    """The changed metric keys as (quality rows with verdicts, timing rows, other rows).

    A quality metric is a key of metrics/metrics.json that the manifest gives a direction;
    its verdict comes from diff.judge, so a verdict added there (such as "now n/a") shows here.
    """
    quality, timings, other = [], [], []
    for (path, key), change in sorted(_flat(metrics).items()):
        old, new, change_by = change.get("old"), change.get("new"), change.get("diff")
        change_by = change_by if isinstance(change_by, (int, float)) else None
        where = Path(path).relative_to(paths.METRICS_DIR).as_posix() if path.startswith("metrics/") else path
        better, said = judge(path, key, old, new, manifest)
        if is_timing(key, manifest if Path(path).name == paths.METRICS_FILE.name else None):
            timings.append([f"`{key}` ({where})", old, new, change_by])
        elif better is not None:
            entry = manifest.metrics[key] if manifest else None
            label = entry.label if entry else ""
            quality.append([f"`{key}`", label, old, new, change_by,
                            f"{said} ({ARROW[better]} better)"])  # fmt: skip
        else:
            other.append([f"`{key}` ({where})", old, new, change_by])
    rank = {v: i for i, v in enumerate(MOVED)}
    quality.sort(key=lambda r: rank.get(r[-1].split(" ", 1)[0], len(MOVED)))
    return quality, timings, other


def headline(quality: list[list[Any]], other: int, params: int, unseen: list[str]) -> list[str]:
    """The first lines: no change, or the tally of verdicts; never "no effect" for an unseen change."""
    tally = Counter(r[-1].split(" (", 1)[0] for r in quality)
    moved = [f"{n} {v}" for v, n in sorted(tally.items(), key=lambda kv: (kv[0] not in MOVED, kv[0])) if n]
    keys = ", ".join(f"`{k}`" for k in unseen)
    lines = []
    seen = params - len(unseen)
    if not quality and not other and not params:
        lines.append("**No change**: no param changed and no metric moved (timings are not counted).")
    elif not quality and not other and seen:
        lines.append(f"**No metric moved** under the {seen} param change(s) the CI run saw.")
    elif not quality and not other:
        lines.append("**Not measured**: no metric moved, and the CI run saw none of the param changes.")
    else:
        what = ", ".join(moved) if moved else "no quality metric moved"
        lines.append(f"**{what}**" + (f"; {other} other key(s) changed" if other else "") + ".")
    if unseen:
        it, its = ("it", "its") if len(unseen) == 1 else ("them", "their")
        lines.append(f"CI could not see the change to {keys}: the CI profile sets {it} on both "
                     f"sides, so this comment says nothing about {its} effect.")  # fmt: skip
    return lines + [""]


def _grid(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[float]:
    lo, hi = max(a[0][0], b[0][0]), min(a[-1][0], b[-1][0])
    if hi <= lo:
        return []
    n = min(CURVE_POINTS, len({s for s, _ in a if lo <= s <= hi}) or 1)
    return [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)] if n > 1 else [lo]


def _at(points: list[tuple[float, float]], step: float) -> float:
    """The curve's value at `step`, linear between the logged steps."""
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if s0 <= step <= s1:
            return v0 if s1 == s0 else v0 + (v1 - v0) * (step - s0) / (s1 - s0)
    return points[-1][1]


def _num(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "0"


def _block(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def curve_charts(base: dict[str, Any], pr: dict[str, Any]) -> list[str]:
    """Mermaid line charts of pretrain's loss curves, base and PR on one shared step grid; one
    markdown block a chart."""
    blocks = []
    for name in LOSS_CURVES:
        a, b = sorted(base.get(name, [])), sorted(pr.get(name, []))
        if not a or not b:
            blocks.append(_block(f"No `{name}` curve on the {'base' if not a else 'PR'} side."))
            continue
        grid = _grid(a, b)
        if not grid:
            blocks.append(_block(f"The `{name}` curves share no steps; not drawn."))
            continue
        steps = ", ".join(f'"{int(round(s))}"' for s in grid)
        blocks.append(_block("```mermaid", "xychart-beta",
                             f'    title "pretrain {name}: base (first line), PR (second)"',
                             f'    x-axis "step" [{steps}]', '    y-axis "loss"',
                             f"    line [{', '.join(_num(_at(a, s)) for s in grid)}]",
                             f"    line [{', '.join(_num(_at(b, s)) for s in grid)}]", "```"))  # fmt: skip
    return blocks


def headline_charts(old: dict[str, Any], new: dict[str, Any], manifest: Manifest | None) -> list[str]:
    """A small base-versus-PR bar chart for each headline metric both sides measured."""
    blocks = []
    for key in HEADLINE_METRICS:
        a, b = old.get(key), new.get(key)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (a, b)):
            continue
        better = direction(str(paths.METRICS_FILE), key, manifest)
        arrow = f" ({ARROW[better]} better)" if better else ""
        title = f'    title "{key}{arrow}: base {a:.4g}, PR {b:.4g}"'
        blocks.append(_block("```mermaid", "xychart-beta", title, '    x-axis ["base", "PR"]',
                             f"    bar [{_num(a)}, {_num(b)}]", "```"))  # fmt: skip
    return blocks


def sections(
    title: str,
    authored: dict[str, Any],
    effective: dict[str, Any],
    metrics: dict[str, Any],
    manifest: Manifest | None,
    overridden: dict[str, Any],
    plots: list[str],
) -> list[Section]:
    """The comment's sections in order, before any trimming."""
    prows, unseen = param_rows(authored, effective, overridden)
    quality, timings, other = split_metrics(metrics, manifest)
    out = [Section([MARKER, f"## {title}", "", *headline(quality, len(other), len(prows), unseen)])]
    params = Section(["### Changed params", ""], prows, ["param", "base", "PR", "in the CI run"], cut=4)
    if not prows:
        params.head += ["This pull request changes no param.", ""]
    out.append(params)
    qual = Section(
        ["### Quality metrics", ""], quality, ["metric", "what", "base", "PR", "change", "verdict"]
    )
    if not quality:
        qual.head += ["No quality metric moved.", ""]
    out.append(qual)
    charts = [[block] for block in plots]
    out.append(Section([] if plots else ["No plots: the curves or metrics are missing on one side.", ""],
                       charts, fold="Plots: base vs PR", cut=3))  # fmt: skip
    header = ["key", "base", "PR", "change"]
    if timings:
        out.append(Section(["They move on every run and carry no verdict.", ""], timings, header,
                           fold=f"Timings ({len(timings)} changed)", cut=2))  # fmt: skip
    if other:
        out.append(Section([], other, header, fold=f"Other changed keys ({len(other)}: counts, sizes, "
                           "training summaries)", cut=1))  # fmt: skip
    return out


def render(parts: list[Section], limit: int = LIMIT) -> str:
    """The comment's text, trimmed to `limit` characters: the rows of the section with the lowest
    `cut` above 0 go first (a chart is one row); sections with cut 0 are kept whole."""

    def text() -> str:
        return "\n".join(line for s in parts for line in s.render(limit)).rstrip() + "\n"

    out = text()
    for section in sorted((s for s in parts if s.cut), key=lambda s: s.cut):
        while len(out) > limit and section.rows:
            n = min(max(1, (len(out) - limit) // 200), len(section.rows))  # ~a row's length: few passes
            section.rows, section.dropped = section.rows[:-n], section.dropped + n
            out = text()
    if len(out) > limit:
        raise PipelineError(f"the comment's verdicts alone take {len(out):,} characters, over the "
                            f"limit of {limit:,}; raise --limit (GitHub allows 65,536)")  # fmt: skip
    return out


def build(
    against: str,
    params_base: str | None,
    params_head: str,
    base_dir: Path | None,
    profile: str | None,
    title: str,
) -> list[Section]:
    """Run the dvc diffs and read both sides' curves; the sections of the comment."""
    metrics = dvc_json("metrics", "diff", against, "--all")
    effective = dvc_json("params", "diff", against)
    authored = dvc_json("params", "diff", params_base, params_head) if params_base else effective
    manifest = read_manifest(paths.MANIFEST_FILE)
    flat = _flat(metrics)
    name = str(paths.METRICS_FILE)
    old = {k: c.get("old") for (p, k), c in flat.items() if p == name}
    new = {k: c.get("new") for (p, k), c in flat.items() if p == name}
    moved = {p: {k: c for k, c in ch.items() if c.get("old") != c.get("new")} for p, ch in metrics.items()}
    plots = headline_charts(old, new, manifest)
    if base_dir is not None:
        base_curves = read_curves(base_dir / paths.CURVES_DIR).get("pretrain", {})
        plots = curve_charts(base_curves, read_curves(paths.CURVES_DIR).get("pretrain", {})) + plots
    return sections(title, authored, effective, moved, manifest, overridden_keys(profile), plots)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin CLI
    ap = argparse.ArgumentParser(prog="python -m stages.report.comment", description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, metavar="RUN_REV", help="the base side's reproduced run")
    ap.add_argument("--params-base", metavar="REV", help="the base as its author wrote it (default: RUN_REV)")
    ap.add_argument("--params-head", metavar="REV", default="HEAD", help="the PR as written (default: HEAD)")
    ap.add_argument("--base-dir", type=Path, help="the base side's worktree, for its loss curves")
    ap.add_argument("--profile", default="ci", help="the CI overlay both runs used, or 'none' (default: ci)")
    ap.add_argument("--title", default="Metrics and params against the base")
    ap.add_argument("--limit", type=int, default=LIMIT, help=f"characters at most (default: {LIMIT:,})")
    ap.add_argument("--out", type=Path, help="write the comment here (default: stdout)")
    ap.add_argument("--full-out", type=Path, help="also write the untrimmed comment here")
    args = ap.parse_args(argv)
    profile = None if args.profile == "none" else args.profile
    try:
        parts = build(args.against, args.params_base, args.params_head, args.base_dir, profile, args.title)
        if args.full_out:
            args.full_out.write_text(
                render([Section(**vars(s)) for s in parts], sys.maxsize), encoding="utf-8"
            )
        text = render(parts, args.limit)
    except PipelineError as e:
        sys.exit(f"error: {e}")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

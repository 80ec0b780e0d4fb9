"""Write reports/report.md and its PNG plots from the metrics of every stage.

python -m stages.report                  # the report, readable without DVC
python -m stages.report --against HEAD~1 # metrics and params diff as markdown, to stdout

One section per metric family present in metrics/metrics.json (families that are absent
are named at the top), then the data funnel, the training runs and every figure no section
showed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from stages.common.io import atomic_dir
from stages.common.manifest import Manifest
from stages.common.manifest import read as read_manifest
from stages.common.params import load_section
from stages.common.stage import STAGE_SECONDS
from stages.report import paths, plots
from stages.report.diff import against
from stages.report.families import KINDS, OTHER, family_of
from stages.report.markdown import (
    clean_sources_section,
    flat_section,
    funnel_section,
    lm_section,
    stage_times_section,
    task_section,
)
from stages.report.samples import samples_section
from stages.report.sections import SECTIONS, figure, leftover_section
from stages.report.sources import flatten, funnel, load_json, load_summary, read_curves, with_na

log = logging.getLogger(__name__)


def build(out: Path, cfg: Any) -> list[str]:
    """Write the report's plots into `out`; return the markdown lines."""
    measured = load_json(paths.METRICS_FILE)
    manifest = read_manifest(paths.MANIFEST_FILE)
    details = {f.name: _detail(f.name) for f in manifest.families} if manifest else {}
    flat = measured if isinstance(measured, dict) else {}
    if isinstance(measured, dict) and manifest:  # the one place n/a figures come back (see with_na)
        flat = with_na(flat, details, manifest)
    plot_dir = out if cfg.plots else None
    lines = [f"# {cfg.title}", ""]
    lines += ["Every figure is computed by the pipeline; baselines sit beside each one. "
              "Regenerate with `dvc repro report`.", ""]  # fmt: skip
    if not flat:
        lines += [f"{paths.METRICS_FILE} is missing or empty: run `dvc repro evaluate` first.", ""]
    if manifest is None:
        lines += [
            f"{paths.MANIFEST_FILE} is missing, so no figure can be interpreted: run `dvc repro evaluate`.",
            "",
        ]
        manifest = Manifest((), {})
    present = {family_of(k, manifest) for k in flat}
    # Families in report order: by kind, then in evaluate's order (the sort is stable); the LM always.
    families = sorted(manifest.families, key=lambda f: KINDS.index(f.kind) if f.kind in KINDS else len(KINDS))
    shown = [f for f in families if f.name in present or f.kind == "lm"]
    absent = [f.name for f in families if f not in shown]
    if absent:
        lines += [f"Not in {paths.METRICS_FILE} (not configured or not evaluated): "
                  + ", ".join(f"`{f}`" for f in absent) + ".", ""]  # fmt: skip

    for family in shown:
        name = family.name
        if family.kind == "lm":
            body, used = lm_section(name, flat, details[name], cfg.digits, manifest)
        elif family.kind == "classification":
            body, used = task_section(name, flat, details[name], cfg.digits, manifest)
            body += _confusion(name, details[name], plot_dir)
        elif family.kind in SECTIONS:
            body, used = SECTIONS[family.kind](flat, details, cfg.digits, plot_dir, manifest)
        else:
            body, used = [f"## `{name}`", ""], set()
        lines += body
        rest = {k for k in flat if family_of(k, manifest) == name and k not in used}
        lines += leftover_section(name, flat, rest, cfg.digits)

    lines += samples_section(_detail("samples"))
    # Each stage's metrics file read once: the funnel, clean's sources and the stage times share it.
    loaded = {stage: load_json(path) if path.exists() else None for stage, path in _stage_files()}
    rows = funnel(paths.FUNNEL_FILES, loaded)
    lines += funnel_section(rows, cfg.plots and plots.funnel_plot(rows, out / "funnel.png"))
    lines += clean_sources_section(loaded["clean"])
    without_time = dict(flat)
    evaluate_seconds = without_time.pop(STAGE_SECONDS, None)  # a row of the stage times, not another metric
    times = stage_times(loaded) + ([("evaluate", evaluate_seconds)] if flat else [])
    lines += stage_times_section(times)
    lines += _training_section(out, cfg)
    other = {k: v for k, v in without_time.items() if family_of(k, manifest) == OTHER}
    if other:
        lines += ["## Other metrics (metrics/metrics.json)", ""]
        lines += flat_section("keys of no known family", other, cfg.digits)[2:]
    return lines


def _stage_files() -> list[tuple[str, Path]]:
    """(stage, metrics file) of every stage but evaluate, in `dvc repro` order."""
    finetuned = sorted((paths.METRICS_DIR / "finetune").glob("*.json"))
    return [*paths.STAGE_TIME_FILES, *((f"finetune@{p.stem}", p) for p in finetuned)]


def stage_times(loaded: dict[str, Any]) -> list[tuple[str, float | None]]:
    """(stage, wall seconds or None) from each stage's metrics (`loaded`, in `dvc repro` order);
    stages whose metrics file is absent are left out."""
    return [(name, data.get(STAGE_SECONDS)) for name, data in loaded.items() if isinstance(data, dict)]


def _detail(name: str) -> dict[str, Any] | None:
    path = paths.DETAIL_DIR / f"{name}.json"
    data = load_json(path) if path.exists() else None
    return data if isinstance(data, dict) else None


def _confusion(task: str, detail: dict[str, Any] | None, plot_dir: Path | None) -> list[str]:
    """The confusion matrix of a classification task's fine-tuned model on its test split."""
    confusion = ((detail or {}).get("systems") or {}).get("model", {}).get("confusion")
    if not confusion:
        return []
    labels = detail.get("labels", [])
    return figure(
        plot_dir,
        f"confusion_{task}.png",
        f"confusion matrix of {task}",
        lambda path: plots.confusion_plot(task, labels, confusion, path),
        "the matrix is empty",
    )


def _training_section(out: Path, cfg: Any) -> list[str]:
    """Each training run (pretrain, every fine-tuned task): its summary JSON (numbers and detail) and
    its loss curves."""
    lines = ["## Training", ""]
    curves = read_curves(paths.CURVES_DIR)
    finetuned = {f"finetune/{p.stem}" for p in (paths.METRICS_DIR / "finetune").glob("*.json")}
    for run in ["pretrain", *sorted((finetuned | set(curves)) - {"pretrain"})]:
        path = paths.METRICS_DIR / f"{run}.json"
        data = load_summary(path)
        if data is not None:
            lines += flat_section(str(path), flatten(data), cfg.digits)
        else:
            lines += [f"### {path}", "", "Not found (stage not run yet).", ""]
        if run in curves:
            lines += figure(
                out if cfg.plots else None,
                f"curves_{run.replace('/', '_')}.png",
                f"{run} training curves",
                lambda p, r=run: plots.curves_plot(r, curves[r], p),
                "no curve",
            )
        else:
            lines += [f"No dvclive curves under {paths.CURVES_DIR / run}/plots/metrics/.", ""]
    return lines


def cli() -> argparse.ArgumentParser:
    """The command line of `python -m stages.report`."""
    parser = argparse.ArgumentParser(
        prog="python -m stages.report",
        description=__doc__.strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Params: the `report` section of params.yaml. Deps and outs: stage `report` in dvc.yaml.",
    )
    parser.add_argument(
        "--against", metavar="GIT_REV", help="print the metrics and params diff against GIT_REV"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = cli().parse_args(sys.argv[1:] if argv is None else argv)
    if args.against:
        print(against(args.against))
        return
    cfg = load_section("report")
    with atomic_dir(paths.REPORTS_DIR) as out:
        text = "\n".join(build(out, cfg)).rstrip() + "\n"
        (out / paths.REPORT_FILE).write_text(text, encoding="utf-8")
    log.info("wrote %s", paths.REPORTS_DIR / paths.REPORT_FILE)

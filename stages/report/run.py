"""Write reports/report.md and its PNG plots from the metrics of every stage.

python -m stages.report                  # the report, readable without DVC
python -m stages.report --against HEAD~1 # metrics and params diff as markdown, to stdout
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from stages.common.io import atomic_dir
from stages.common.params import load_section
from stages.report import paths, plots
from stages.report.diff import against
from stages.report.markdown import flat_section, funnel_section, lm_section, task_section, tasks_in
from stages.report.sources import flatten, funnel, load_json, read_curves

log = logging.getLogger(__name__)


def build(out: Path, cfg: Any) -> list[str]:
    """Write the report's plots into `out`; return the markdown lines."""
    flat = load_json(paths.METRICS_FILE) or {}
    lines = [f"# {cfg.title}", ""]
    lines += ["Every figure is computed by the pipeline; baselines sit beside each one. "
              "Regenerate with `dvc repro report`.", ""]  # fmt: skip
    if not flat:
        lines += [f"{paths.METRICS_FILE} is missing or empty: run `dvc repro evaluate` first.", ""]
    lines += lm_section(flat, _detail("pretrain"), cfg.digits)
    for task in tasks_in(flat):
        detail = _detail(task)
        lines += task_section(task, flat, detail, cfg.digits)
        model = (detail or {}).get("systems", {}).get("model", {})
        if cfg.plots and model.get("confusion"):
            name = f"confusion_{task}.png"
            if plots.confusion_plot(task, detail.get("labels", []), model["confusion"], out / name):
                lines += [f"![confusion matrix of {task}]({name})", ""]

    rows = funnel(paths.FUNNEL_FILES)
    lines += funnel_section(rows, cfg.plots and plots.funnel_plot(rows, out / "funnel.png"))
    lines += _training_section(out, cfg)
    lines += ["## All evaluation metrics (metrics/metrics.json)", ""]
    lines += flat_section("metrics.json", flat, cfg.digits)[2:]
    return lines


def _detail(name: str) -> dict[str, Any] | None:
    path = paths.DETAIL_DIR / f"{name}.json"
    return load_json(path) if path.exists() else None


def _training_section(out: Path, cfg: Any) -> list[str]:
    lines = ["## Training", ""]
    files = [paths.METRICS_DIR / "pretrain.json", *sorted((paths.METRICS_DIR / "finetune").glob("*.json"))]
    for path in files:
        data = load_json(path) if path.exists() else None
        if isinstance(data, dict):
            lines += flat_section(str(path), flatten(data), cfg.digits)
        else:
            lines += [f"{path}: not found (stage not run yet).", ""]
    curves = read_curves(paths.CURVES_DIR)
    for run, metrics in sorted(curves.items()):
        name = f"curves_{run.replace('/', '_')}.png"
        if cfg.plots and plots.curves_plot(run, metrics, out / name):
            lines += [f"![{run} training curves]({name})", ""]
    if not curves:
        lines += [f"No dvclive curves under {paths.CURVES_DIR}/*/plots/metrics/.", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--against", metavar="GIT_REV", help="print the metrics and params diff against GIT_REV"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.against:
        print(against(args.against))
        return
    cfg = load_section("report")
    with atomic_dir(paths.REPORTS_DIR) as out:
        text = "\n".join(build(out, cfg)).rstrip() + "\n"
        (out / paths.REPORT_FILE).write_text(text, encoding="utf-8")
    log.info("wrote %s", paths.REPORTS_DIR / paths.REPORT_FILE)

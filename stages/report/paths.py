"""Where report reads metrics and writes the report (the one place paths are named)."""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path("metrics")
METRICS_FILE = METRICS_DIR / "metrics.json"  # written by evaluate: flat, stable keys
MANIFEST_FILE = METRICS_DIR / "manifest.json"  # written by evaluate: what each key of METRICS_FILE is
DETAIL_DIR = METRICS_DIR / "evaluate"  # evaluate's per-family detail, with n/a reasons
CURVES_DIR = METRICS_DIR / "curves"  # dvclive: <stage>[/<task>]/plots/metrics/**.tsv
CLEAN_FILE = METRICS_DIR / "clean.json"  # written by clean: also its drops per source and rule
# The data funnel, in pipeline order: (stage, its metrics file).
FUNNEL_FILES = (
    ("collect", METRICS_DIR / "collect.json"),
    ("clean", CLEAN_FILE),
    ("dedup", METRICS_DIR / "dedup.json"),
    ("tokenizer", METRICS_DIR / "tokenizer.json"),
)
# Where each stage's wall time (`stage_seconds`) is, in `dvc repro` order: the funnel's stages
# with tasks and pretrain; finetune's tasks (METRICS_DIR/finetune/<task>.json) go in before evaluate.
STAGE_TIME_FILES = (
    *FUNNEL_FILES[:2],
    ("tasks", METRICS_DIR / "tasks.json"),
    *FUNNEL_FILES[2:],
    ("pretrain", METRICS_DIR / "pretrain.json"),
)
REPORTS_DIR = Path("reports")
REPORT_FILE = "report.md"

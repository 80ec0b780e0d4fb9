"""Where evaluate reads its inputs and writes its outputs (the one place paths are named)."""

from __future__ import annotations

from pathlib import Path

TOKENS_DIR = Path("data/tokens")
PRETRAIN_DIR = Path("models/pretrain")
FINETUNE_DIR = Path("models/finetune")
TASKS_DIR = Path("data/tasks")
CANARIES_FILE = Path("data/raw/canaries.json")  # privacy: the canaries collect planted (collect.canaries)
CORPUS_DIR = Path("data/dedup")  # privacy: the deduplicated corpus, where planted canaries survived

METRICS_FILE = Path("metrics/metrics.json")  # flat, stable keys, numbers only: `dvc metrics diff` reads it
MANIFEST_FILE = Path("metrics/manifest.json")  # what each key of METRICS_FILE is (stages/common/manifest.py)
DETAIL_DIR = Path("metrics/evaluate")  # one JSON per metric family (a plain out), with reasons for every n/a
CONFUSION_DIR = Path("metrics/confusion")  # DVC plot files: <task>.json rows of {actual, predicted}

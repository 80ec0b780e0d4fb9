"""Shared inputs of the report tests: a params.yaml with every section, the manifest evaluate
writes, and a writer for fake metric files."""

from __future__ import annotations

import json
from pathlib import Path

from stages.common.params import parse, read_yaml
from stages.evaluate.config import EvaluateParams
from stages.evaluate.context import Context
from stages.evaluate.run import build_manifest

REPO = Path(__file__).resolve().parents[1]

PARAMS = "seed: 1\n" + "".join(
    f"{s}: {{}}\n"
    for s in ("collect", "clean", "dedup", "tokenizer", "pretrain", "tasks", "finetune", "evaluate")
)
PARAMS += "report: {plots: true, title: Test report, digits: 4}\n"


def write(path: Path, obj: object) -> None:
    """`obj` as JSON in `path` (a string as it is), creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)


def measured(flat: dict) -> dict:
    """`flat` as evaluate writes metrics.json: numbers only, every n/a figure left out."""
    return {k: v for k, v in flat.items() if v != "n/a"}


def manifest_json(tasks: tuple[str, ...] = ("classify", "adversarial", "domain", "ner")) -> dict:
    """The manifest evaluate writes for the repository's params.yaml."""
    cfg = parse(EvaluateParams, read_yaml(REPO / "params.yaml")["evaluate"], "evaluate")
    return build_manifest(Context(cfg, 1, "cpu", tasks)).to_json()

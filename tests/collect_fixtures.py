"""Shared helpers for the collect tests: build params inline and run the stage into tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stages.collect.collect import collect
from stages.collect.config import CollectParams
from stages.common.io import iter_docs
from stages.common.params import parse


def run(tmp_path: Path, sources: list[dict[str, Any]], on_error: str = "skip") -> tuple[list[dict], dict]:
    """Run collect on `sources`; return the written documents and the metrics."""
    cfg = parse(CollectParams, {"shard_docs": 3, "on_error": on_error, "sources": sources}, "collect")
    out, metrics = tmp_path / "raw", tmp_path / "collect.json"
    collect(cfg, out_dir=out, metrics_path=metrics)
    return list(iter_docs(out)), json.loads(metrics.read_text())


def local(path: Path | str, name: str = "src", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "local", "path": str(path), "license": "test", **kw}

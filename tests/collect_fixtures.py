"""Shared helpers for the collect tests: build params inline and run the stage into tmp_path."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from params_fixtures import as_dict

from stages.collect.collect import collect
from stages.collect.config import CollectParams
from stages.common.io import iter_docs
from stages.common.params import parse


def collect_params(
    sources: list[dict[str, Any]],
    shard_docs: int = 3,
    on_error: str = "skip",
    engine: str = "local",
    num_proc: int = 1,
    **canaries: Any,
) -> CollectParams:
    """CollectParams for inline `sources`: a source's `max_docs` goes to `limits`, as in
    params.yaml, and the canaries are the default profile's with none planted unless given."""
    limits = {s["name"]: {"max_docs": s.get("max_docs", 0), "exclude": []} for s in sources}
    sources = [{k: v for k, v in s.items() if k != "max_docs"} for s in sources]
    data = {
        "shard_docs": shard_docs,
        "engine": engine,
        "num_proc": num_proc,
        "on_error": on_error,
        "limits": limits,
        "sources": sources,
        "canaries": as_dict("collect.canaries", count=0) | canaries,
    }
    return parse(CollectParams, data, "collect")


def run(tmp_path: Path, sources: list[dict[str, Any]], on_error: str = "skip") -> tuple[list[dict], dict]:
    """Run collect on `sources`; return the written documents and the metrics."""
    cfg = collect_params(sources, on_error=on_error)
    out, metrics = tmp_path / "raw", tmp_path / "collect.json"
    collect(cfg, out_dir=out, metrics_path=metrics)
    return list(iter_docs(out)), json.loads(metrics.read_text())


def local(path: Path | str, name: str = "src", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "local", "path": str(path), "license": "test", **kw}


def warc(records: list[tuple], gzip: bool = False) -> bytes:
    """A WARC file, written by warcio, of HTTP responses: (uri, content type, payload[, status line])."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gzip)
    for uri, ctype, payload, *status in records:
        http = StatusAndHeaders(
            status[0] if status else "200 OK",
            [("Content-Type", ctype), ("Content-Length", str(len(payload)))],
            protocol="HTTP/1.1",
        )
        writer.write_record(
            writer.create_warc_record(uri, "response", payload=io.BytesIO(payload), http_headers=http)
        )
    return buf.getvalue()

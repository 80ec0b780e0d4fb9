"""benchmarks/clean_memory.py's scaled corpus: every copy is a distinct record, nothing lost."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from clean_memory import build_corpus  # noqa: E402

from stages.common.io import DOC_COLUMNS  # noqa: E402


def test_scaled_corpus_repeats_shards_with_distinct_ids(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for s in range(2):
        rows = [{c: f"{c}-{s}-{i}" for c in DOC_COLUMNS} for i in range(3)]
        pq.write_table(pa.Table.from_pylist(rows), raw / f"part-{s:05d}.parquet")
    docs, size = build_corpus(raw, tmp_path / "x3", 3)
    out = pq.read_table(tmp_path / "x3" / "data" / "raw")
    assert docs == out.num_rows == 18 and size > 0
    assert len(set(out["id"].to_pylist())) == 18
    assert sorted(set(out["text"].to_pylist())) == sorted(f"text-{s}-{i}" for s in range(2) for i in range(3))
    assert (tmp_path / "x3" / "params.yaml").exists()
    assert build_corpus(raw, tmp_path / "first", 2, n_shards=1, num_proc=1)[0] == 6
    assert "num_proc: 1" in (tmp_path / "first" / "params.yaml").read_text()


def test_missing_shards_say_what_to_do(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(SystemExit, match="no part-.*collect"):
        build_corpus(tmp_path / "raw", tmp_path / "x1", 1)

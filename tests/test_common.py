"""Atomic outputs, the download cache and the stage wrapper in stages/common."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stages.common import fetch
from stages.common.errors import DataError
from stages.common.io import (
    ShardWriter,
    atomic_dir,
    atomic_file,
    count_docs,
    iter_docs,
    restore_dir,
    shard_paths,
    split_metrics,
    write_json,
    write_metrics,
)

ROOT = Path(__file__).resolve().parents[1]


def test_atomic_dir_replaces_whole_output_on_success(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with atomic_dir(out) as d:
        (d / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary siblings left


def test_interrupted_atomic_dir_leaves_previous_output_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "good.txt").write_text("finished earlier")
    with pytest.raises(KeyboardInterrupt), atomic_dir(out) as d:
        (d / "half.txt").write_text("half written")
        raise KeyboardInterrupt
    assert (out / "good.txt").read_text() == "finished earlier"
    assert not (out / "half.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_swap_never_leaves_the_folder_missing(tmp_path):
    # A reader polling the folder (as a kill can land at any instant) always finds it, whole.
    out = tmp_path / "ckpt"
    with atomic_dir(out) as d:
        (d / "state.json").write_text("0")
    seen, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append(int((out / "state.json").read_text()))
            except FileNotFoundError:
                seen.append(None)

    reader = threading.Thread(target=read)
    reader.start()
    for step in range(1, 300):
        with atomic_dir(out) as d:
            (d / "state.json").write_text(str(step))
    stop.set()
    reader.join()
    assert None not in seen and len(seen) > 300
    assert (out / "state.json").read_text() == "299"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_fallback_swap_killed_between_renames_is_restored(tmp_path, monkeypatch):
    from stages.common import io

    out = tmp_path / "ckpt"
    with atomic_dir(out) as d:
        (d / "state.json").write_text("10")
    monkeypatch.setattr(io, "_exchange", lambda a, b: False)  # a system without renameat2
    real_replace, calls = os.replace, []

    def killed_after_first_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies with the old folder moved aside
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", killed_after_first_rename)
    with pytest.raises(KeyboardInterrupt), atomic_dir(out) as d:
        (d / "state.json").write_text("20")
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert not out.exists()
    restore_dir(out)
    assert (out / "state.json").read_text() == "10"  # the last whole checkpoint is back
    assert not list(tmp_path.glob(".ckpt.old-*"))
    with atomic_dir(out) as d:  # and the fallback swap works when nothing interrupts it
        (d / "state.json").write_text("30")
    assert (out / "state.json").read_text() == "30"


def test_interrupted_atomic_file_leaves_no_file(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write("{")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'


# A stage's summary as the training stages write it: numbers, text, flags, lists and nulls.
SUMMARY = {
    "val_loss": 5.71, "steps": 400, "mfu": 0.0, "ppl": float("inf"),
    "device": "cpu", "stopped_early": False, "moe_impl": None, "history": [{"epoch": 1, "loss": 0.3}],
    "near": {"method": "minhash", "clusters": 2, "bands": {}},
    "ner": {"label_map": {"GPE": "LOC"}, "splits": {"test": {"rows": 2, "entities": {"LOC": 2}}}},
}  # fmt: skip


def test_split_metrics_puts_numbers_in_one_tree_and_everything_else_in_the_other():
    numbers, detail = split_metrics(SUMMARY)
    assert numbers == {
        "val_loss": 5.71, "steps": 400, "mfu": 0.0, "ppl": float("inf"),
        "near": {"clusters": 2, "bands": {}}, "ner": {"splits": {"test": {"rows": 2, "entities": {"LOC": 2}}}},
    }  # fmt: skip
    assert detail == {
        "device": "cpu", "stopped_early": False, "moe_impl": None, "history": [{"epoch": 1, "loss": 0.3}],
        "near": {"method": "minhash"}, "ner": {"label_map": {"GPE": "LOC"}},
    }  # fmt: skip
    assert split_metrics({"a": {"b": 1}, "c": {"d": "x"}}) == ({"a": {"b": 1}}, {"c": {"d": "x"}})
    assert split_metrics({}) == ({}, {})


def test_write_metrics_writes_numbers_and_detail_and_refuses_text_where_there_is_no_detail(tmp_path):
    write_metrics(tmp_path / "finetune" / "ner.json", SUMMARY)
    numbers = json.loads((tmp_path / "finetune" / "ner.json").read_text())
    detail = json.loads((tmp_path / "finetune" / "info" / "ner.json").read_text())
    assert (numbers, detail) == split_metrics(SUMMARY)
    write_metrics(tmp_path / "collect.json", {"documents": 3})
    assert (tmp_path / "info" / "collect.json").read_text() == "{}\n"  # always there for DVC
    write_metrics(tmp_path / "metrics.json", {"x.acc": 0.5}, detail=False)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"x.acc": 0.5}
    assert not (tmp_path / "info" / "metrics.json").exists()
    with pytest.raises(ValueError, match=r"numbers only, but \['x.f1', 'y.ok'\]"):
        write_metrics(
            tmp_path / "metrics.json", {"x.acc": 0.4, "x.f1": "n/a", "y": {"ok": True}}, detail=False
        )
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"x.acc": 0.5}  # left as it was


def test_shards_round_trip_and_missing_input_is_a_clear_error(tmp_path):
    docs = [
        {"id": str(i), "text": f"doc {i}", "source": "s", "origin": "o", "license": "l", "meta": "{}"}
        for i in range(5)
    ]
    with ShardWriter(tmp_path / "d", shard_docs=2) as w:
        w.write_many(docs)
    assert len(shard_paths(tmp_path / "d")) == 3
    assert count_docs(tmp_path / "d") == 5
    assert [d["text"] for d in iter_docs(tmp_path / "d")] == [d["text"] for d in docs]
    with pytest.raises(DataError, match="run the stage that writes it"):
        shard_paths(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no part-"):
        shard_paths(tmp_path / "empty")


def test_cache_hit_is_rehashed_and_a_corrupted_entry_is_fetched_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    payload = b"real bytes\n"
    sha = hashlib.sha256(payload).hexdigest()
    src = tmp_path / "file.txt"
    src.write_bytes(payload)
    url = src.as_uri()
    got = fetch.fetch_url(url, sha)
    assert got.read_bytes() == payload
    got.write_bytes(b"corrupted")  # e.g. a disk error after the first fetch
    again = fetch.fetch_url(url, sha)
    assert again.read_bytes() == payload
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch.fetch_url(url, "0" * 64)


def test_stage_reports_bad_params_in_one_line_without_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stages.clean"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "error in stage clean: params.yaml: missing section(s)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pick_precision_takes_bf16_only_where_the_hardware_has_it(monkeypatch, caplog):
    from stages.common import runtime

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert runtime.pick_precision("auto", "cpu") == "fp32"
    assert runtime.pick_precision("fp32", "cpu") == "fp32"
    assert runtime.pick_precision("bf16", "cpu") == "bf16"
    assert "no native bf16" in caplog.text
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert runtime.pick_precision("auto", "cpu") == "bf16"
    assert runtime.pick_precision("fp32", "cpu") == "fp32"


_MMAPPED_BYTES = """
import ctypes, sys
from stages.common.runtime import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] != "default":
    assert keep_freed_memory(sys.argv[1] == "keep")
before = libc.mallinfo2().hblkhd
block = bytearray(64 << 20)  # above glibc's largest mmap threshold
print(libc.mallinfo2().hblkhd - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's malloc only",
)
def test_keep_freed_memory_serves_large_blocks_from_the_heap_and_can_be_undone():
    def mmapped(mode: str) -> int:
        proc = subprocess.run(
            [sys.executable, "-c", _MMAPPED_BYTES, mode], capture_output=True, text=True, check=True
        )
        return int(proc.stdout)

    assert mmapped("default") >= 64 << 20  # glibc maps a block this large on its own
    assert mmapped("keep") == 0  # kept: served from the heap, which is never trimmed
    assert mmapped("plain") >= 64 << 20

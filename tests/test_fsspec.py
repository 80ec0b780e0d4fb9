"""Paths that are fsspec URLs: a `local` source globbed on fsspec's memory filesystem or at a
file:// URL gives the documents of the same files on disk; an `hf` source reads data files by
URL; a missing protocol library is one sentence naming the package; dedup's partition files
under a memory:// or file:// shuffle_dir give byte-identical output.

Document ids are sha256 of the text, so they never depend on where a file lies; only `origin`
embeds the file's path (its URL for a URL source) and differs."""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from dataclasses import replace

import fsspec
import pytest
from collect_fixtures import collect_params, local, run
from dedup_fixtures import made_corpus, write_stage_input
from fsspec_fixtures import JSONL, corpus_files, digest, put, without_origin

from stages.collect.collect import _file_jobs, collect
from stages.collect.docs import Tally
from stages.common.errors import DataError
from stages.common.io import iter_docs
from stages.common.params import default_params

os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")


@pytest.fixture
def mem():
    """A fresh folder on fsspec's memory filesystem (process-wide), removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/fsspec-test-{uuid.uuid4().hex[:8]}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_a_memory_glob_reads_the_documents_of_the_same_files_on_disk(tmp_path, mem):
    put(corpus_files(), tmp_path / "corpus", mem)
    disk, disk_m = run(tmp_path / "disk", [local(tmp_path / "corpus" / "**" / "*")])
    url, url_m = run(tmp_path / "url", [local(f"memory://{mem[1]}/**/*")])
    assert len(disk) == 8 and url_m["sources"]["src"]["files"] == disk_m["sources"]["src"]["files"] == 7
    assert without_origin(url) == without_origin(disk)  # ids, texts, meta, order
    texts = [d["text"] for d in url]
    assert "Compressed, and read from its magic bytes." in texts and "A file one folder down." in texts
    assert sum("anemones" in t for t in texts) == 3  # the page alone and in each WARC (one gzipped)
    # origin names the file by its URL, where the disk run names it by its path
    assert [d["origin"] for d in url] == [
        d["origin"].replace(str(tmp_path / "corpus"), f"memory://{mem[1]}") for d in disk
    ]


def test_a_file_url_reads_what_the_plain_path_reads(tmp_path):
    put(corpus_files(), tmp_path / "corpus")
    plain, _ = run(tmp_path / "plain", [local(tmp_path / "corpus" / "*.*")])
    url, _ = run(tmp_path / "url", [local(f"file://{tmp_path / 'corpus'}/*.*")])
    assert len(plain) == 7 and without_origin(url) == without_origin(plain)
    assert url[0]["origin"] == f"file://{tmp_path / 'corpus' / 'a.jsonl'}#1" == "file://" + plain[0]["origin"]


def test_pooled_workers_get_urls_not_bytes_and_write_what_one_process_writes(tmp_path, mem):
    put(corpus_files(), tmp_path / "corpus", mem)
    src = local(f"memory://{mem[1]}/**/*")
    cfg = collect_params([src], num_proc=2)
    (src_params,) = cfg.sources_to_read()
    jobs = list(_file_jobs([(src_params, Tally("src"))]))
    assert [j.data for j in jobs] == [None] * 7 and jobs[0].url == f"memory://{mem[1]}/a.jsonl"
    assert jobs[0].nbytes == len(JSONL)
    # The fork pool's workers see the memory filesystem as it was at the fork, as a cluster's
    # workers see object storage.
    collect(cfg, out_dir=tmp_path / "pooled", metrics_path=tmp_path / "pooled.json")
    one, _ = run(tmp_path / "one", [src])
    assert list(iter_docs(tmp_path / "pooled")) == one and len(one) == 8


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed here")
def test_an_s3_url_without_s3fs_names_the_package_to_install(tmp_path):
    with pytest.raises(
        DataError, match=r"s3://bucket/crawl/\*\.warc\.gz: .*needs the s3fs package.*pip install s3fs"
    ):
        run(tmp_path, [local("s3://bucket/crawl/*.warc.gz")])


def test_an_unknown_protocol_an_empty_glob_and_a_vanished_file_are_named(tmp_path, mem):
    from stages.common.fs import read_bytes

    with pytest.raises(DataError, match="fsspec knows no protocol 'nosuch'"):
        run(tmp_path, [local("nosuch://bucket/*.txt")])
    with pytest.raises(DataError, match=rf"memory://{mem[1]}/\*\.jsonl: matches no file \(source src\)"):
        run(tmp_path, [local(f"memory://{mem[1]}/*.jsonl")])
    with pytest.raises(
        DataError, match=rf"memory://{mem[1]}/gone.txt: cannot read the file \(source s\): FileNotFound"
    ):
        read_bytes(f"memory://{mem[1]}/gone.txt", "source s")


def test_hf_data_files_at_a_url_read_as_the_local_file(tmp_path, mem):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [[f"row {i} of file {f}, long enough to keep" for i in range(3)] for f in range(2)]
    for f, rows in enumerate(texts):
        pq.write_table(
            pa.table({"text": rows, "id": [f"{f}-{i}" for i in range(3)]}), tmp_path / f"{f}.parquet"
        )
        mem[0].pipe(f"{mem[1]}/{f}.parquet", (tmp_path / f"{f}.parquet").read_bytes())
    (tmp_path / "x.jsonl").write_bytes(JSONL)

    def hf(dataset: str) -> dict:
        return {"name": "h", "kind": "hf", "dataset": dataset, "license": "test"}

    on_disk, _ = run(tmp_path / "d", [hf(str(tmp_path / "0.parquet"))])
    by_url, _ = run(tmp_path / "m", [hf(f"memory://{mem[1]}/*.parquet")])
    assert [d["text"] for d in by_url] == texts[0] + texts[1]
    assert without_origin(by_url[:3]) == without_origin(on_disk)
    assert json.loads(by_url[4]["meta"]) == {"record_id": "1-1"}
    jsonl, _ = run(tmp_path / "j", [hf(f"file://{tmp_path / 'x.jsonl'}")])
    assert [d["text"] for d in jsonl] == ["A first line of prose about rivers.", "A second one, about hills."]
    with pytest.raises(DataError, match="matches no file"):
        run(tmp_path / "n", [hf(f"memory://{mem[1]}/*.csv")])


def test_dedup_with_a_memory_or_file_url_shuffle_dir_writes_what_a_plain_path_writes(tmp_path, mem):
    from stages.dedup.run import dedup_dir

    texts, task_texts = made_corpus(4)
    write_stage_input(tmp_path, texts, task_texts, shard_docs=9)
    cfg = default_params("dedup")
    cfg = replace(cfg, num_proc=1, near=replace(cfg.near, num_perm=64))
    (tmp_path / "work").mkdir()
    runs = {
        "plain": str(tmp_path / "work"),
        "file": f"file://{tmp_path / 'work'}",
        "memory": f"memory://{mem[1]}/shuffle",
    }
    metrics = {
        name: dedup_dir(
            tmp_path / "clean", tmp_path / name, tmp_path / "tasks", replace(cfg, shuffle_dir=d), 3
        )
        for name, d in runs.items()
    }
    assert metrics["plain"]["exact_removed"] >= 10 and metrics["plain"]["near_removed"] >= 5
    assert metrics["file"] == metrics["memory"] == metrics["plain"]
    assert digest(tmp_path / "file") == digest(tmp_path / "memory") == digest(tmp_path / "plain")
    assert not list((tmp_path / "work").iterdir()) and mem[0].ls(f"{mem[1]}/shuffle") == []
    # Worker processes do not share this process's memory: their partitions would be lost.
    with pytest.raises(DataError, match="memory, which worker processes do not share"):
        dedup_dir(
            tmp_path / "clean",
            tmp_path / "x",
            tmp_path / "tasks",
            replace(cfg, num_proc=2, shuffle_dir=runs["memory"]),
            3,
        )


@pytest.mark.slow
def test_a_file_url_source_on_ray_collects_what_local_collects(tmp_path, monkeypatch):
    """Ray's workers open the URLs themselves (a local Ray of 2 CPUs, 10-30 s to start here)."""
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    put(corpus_files(), tmp_path / "corpus")
    src = local(f"file://{tmp_path / 'corpus'}/**/*")
    out = {}
    for engine, num_proc in (("local", 1), ("ray", 2)):
        cfg = collect_params([src], engine=engine, num_proc=num_proc)
        collect(cfg, out_dir=tmp_path / engine, metrics_path=tmp_path / f"{engine}.json")
        out[engine] = list(iter_docs(tmp_path / engine))
    assert out["ray"] == out["local"] and len(out["local"]) == 8
    assert out["ray"][0]["origin"].startswith("file://")

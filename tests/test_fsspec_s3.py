"""s3:// for real, against moto's S3 server on 127.0.0.1: a `local` source globbed in a bucket
reads the documents of the same files on disk, and dedup with its shuffle folder in the bucket
(two worker processes) writes what a plain folder gives.

Neither s3fs nor moto is in requirements.txt (nothing the pipeline reads is on S3), so this
is skipped unless both are installed: `pip install s3fs==2026.9.0 "moto[server]"`."""

from __future__ import annotations

import socket
import uuid
from dataclasses import replace

import fsspec
import pytest
from collect_fixtures import local, run
from dedup_fixtures import made_corpus, write_stage_input
from fsspec_fixtures import corpus_files, digest, put, without_origin

from stages.common.params import default_params

pytest.importorskip("s3fs", reason="s3fs is not installed (not a requirement)")
moto_server = pytest.importorskip("moto.server", reason="moto is not installed (not a requirement)")


@pytest.fixture
def s3(monkeypatch):
    """(filesystem, a fresh bucket) on a moto S3 server of the test's own, where fsspec's s3 config points."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The setting a user gives as FSSPEC_S3_ENDPOINT_URL (for MinIO, say), read when fsspec is imported.
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": f"http://127.0.0.1:{port}"})
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    bucket = f"crawl-{uuid.uuid4().hex[:8]}"  # moto's state is one per process, whatever the server
    fs.mkdir(bucket)
    yield fs, bucket
    server.stop()


def test_an_s3_glob_reads_the_documents_of_the_same_files_on_disk(tmp_path, s3):
    files = corpus_files()
    put(files, tmp_path / "corpus")
    for name, data in files.items():
        s3[0].pipe(f"{s3[1]}/c/{name}", data)
    disk, _ = run(tmp_path / "disk", [local(tmp_path / "corpus" / "**" / "*")])
    url, _ = run(tmp_path / "s3", [local(f"s3://{s3[1]}/c/**/*")])
    assert len(url) == 8 and without_origin(url) == without_origin(disk)
    assert url[0]["origin"] == f"s3://{s3[1]}/c/a.jsonl#1"


@pytest.mark.slow  # about 25 s here: every partition file is a request to the server
def test_dedup_with_its_shuffle_folder_in_a_bucket_writes_what_a_plain_folder_gives(tmp_path, s3):
    from stages.dedup.run import dedup_dir

    texts, task_texts = made_corpus(4)
    write_stage_input(tmp_path, texts, task_texts, shard_docs=9)
    cfg = default_params("dedup")
    cfg = replace(cfg, num_proc=2, near=replace(cfg.near, num_perm=64))
    plain = dedup_dir(tmp_path / "clean", tmp_path / "plain", tmp_path / "tasks", cfg, 3)
    in_s3 = replace(cfg, shuffle_dir=f"s3://{s3[1]}/tmp")
    assert dedup_dir(tmp_path / "clean", tmp_path / "s3", tmp_path / "tasks", in_s3, 3) == plain
    assert digest(tmp_path / "s3") == digest(tmp_path / "plain") and plain["exact_removed"] >= 10
    fs, bucket = s3
    assert not fs.exists(f"{bucket}/tmp") or fs.ls(f"{bucket}/tmp") == []

"""Dedup out of core: the partitioned grouping, the union-find, text-dedup-equal band keys, and the
stage's streamed passes giving what text-dedup's in-memory path gives, on made corpora."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace

import numpy as np
import pytest
from dedup_fixtures import made_corpus, write_stage_input

from stages.common.io import iter_docs
from stages.common.params import default_params

os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")
# ---- grouping and union-find -------------------------------------------------------


def test_partitioned_grouping_equals_grouping_in_memory(tmp_path):
    from stages.dedup.shuffle import group_rows, read_partition, record_dtype, write_partitions

    rng = np.random.default_rng(0)
    dtype = record_dtype(3)
    shards = []
    for s in range(4):
        rec = np.empty(500, dtype=dtype)
        rec["key"] = rng.integers(0, 6, size=(500, 3))  # 216 keys: many groups, some across shards
        rec["row"] = np.arange(500) + 500 * s
        write_partitions(tmp_path, s, rec, partitions=5)
        shards.append(rec)
    parted = [g.tolist() for p in range(5) for g in group_rows(read_partition(tmp_path, p, dtype))]
    expect: dict[tuple, list[int]] = {}
    for rec in shards:
        for key, row in zip(rec["key"], rec["row"]):
            expect.setdefault(tuple(key), []).append(int(row))
    assert sorted(parted) == sorted(sorted(v) for v in expect.values() if len(v) > 1)
    assert len(list(tmp_path.glob("s*.shuf"))) == 4 and all(len(g) > 1 for g in parted)


def test_scan_writes_one_file_per_shard_and_kind_whose_slices_are_the_old_partitions(tmp_path):
    """Each kind (exact, bands) gets one file per shard, not one per shard and partition, and
    partition p's slices hold the records a file per (shard, partition) held, in the same order."""
    from stages.dedup.minhash import Signer
    from stages.dedup.outofcore import BANDS_DIR, EXACT_DIR, EXACT_DTYPE, ShardTask, Shared, scan_shard
    from stages.dedup.shuffle import partition_of, read_partition

    texts, task_texts = made_corpus(4)
    write_stage_input(tmp_path, texts, task_texts, shard_docs=9)
    paths = sorted((tmp_path / "clean").glob("*.parquet"))
    cfg = default_params("dedup")
    signer = Signer(replace(cfg.near, num_perm=32), seed=3)
    parts = 13
    shared = Shared(str(tmp_path / "work"), parts, True, None, signer)
    first, records = 0, {EXACT_DIR: [], BANDS_DIR: []}
    for s, path in enumerate(paths):
        rows = scan_shard(shared, ShardTask(s, path, first)).rows
        first += rows
    assert len(paths) >= 5 and first == len(texts)
    for kind, dtype in ((EXACT_DIR, EXACT_DTYPE), (BANDS_DIR, shared.bands_dtype)):
        files = sorted((tmp_path / "work" / kind).iterdir())
        assert [f.name for f in files] == [f"s{s:05d}.shuf" for s in range(len(paths))]
        # The old layout's partition p: each shard's records of partition p, shards in order.
        for f in files:
            body = f.read_bytes()
            records[kind].append(np.frombuffer(body[16 + 8 * (parts + 1) :], dtype=dtype))
        total = 0
        for p in range(parts):
            old = np.concatenate([r[partition_of(r["key"], parts) == p] for r in records[kind]])
            new = read_partition(tmp_path / "work" / kind, p, dtype)
            assert new.tobytes() == old.tobytes() and len(new) > 0
            total += len(new)
        assert (
            total
            == sum(len(r) for r in records[kind])
            == len(texts) * (1 if kind == EXACT_DIR else signer.bands)
        )


def test_union_find_components_equal_a_graph_search():
    from stages.dedup.shuffle import components

    rng = random.Random(1)
    groups = [rng.sample(range(300), rng.randint(2, 4)) for _ in range(120)]
    adj: dict[int, set[int]] = {}
    for g in groups:
        for a in g:
            adj.setdefault(a, set()).update(g)
    seen, expect = set(), []
    for start in sorted(adj):
        if start in seen:
            continue
        stack, comp = [start], set()
        while stack:
            x = stack.pop()
            if x not in comp:
                comp.add(x)
                stack.extend(adj[x] - comp)
        seen |= comp
        if len(comp) > 1:
            expect.append(tuple(sorted(comp)))
    assert components(sorted(g) for g in groups) == tuple(sorted(expect))


def test_band_keys_equal_text_dedup_signatures_bit_for_bit():
    from text_dedup.minhash import embed_func
    from text_dedup.utils import sha1_hash, xxh3_32hash

    from stages.dedup.minhash import Signer
    from stages.dedup.ngrams import words

    texts, _ = made_corpus(2, distinct=8)
    texts += ["Ünïcode, CASE and punctuation!!", "İstanbul ßtraße", "a b"]
    for hash_func, fn in (("xxh3", xxh3_32hash), ("sha1", lambda b: sha1_hash(b, d=32))):
        signer = Signer(default_params("dedup.near", num_perm=64, hash_func=hash_func), seed=7)
        ranges = [(i * signer.rows, (i + 1) * signer.rows) for i in range(signer.bands)]
        for text in texts:
            theirs = embed_func(
                " ".join(words(text)),
                0,
                num_perm=64,
                ngram_size=signer.ngram,
                min_length=0,
                hashranges=ranges,
                permutations=(signer.a, signer.b),
                hash_func=fn,
                dtype=np.uint64,
                max_hash=np.uint32((1 << 32) - 1),
                modulo_prime=np.uint64((1 << 61) - 1),
            )["__signatures__"]
            ours = signer.band_keys(text)
            assert [np.frombuffer(h, dtype=">u8").tolist() for h in theirs] == ours.tolist(), text


# ---- the stage against text-dedup's in-memory path ----------------------------------


def in_memory_kept(texts: list[str], task_texts: list[str], cfg, seed: int) -> list[int]:
    """Rows kept by decontamination, text-dedup exact_hash, then text-dedup minhash, all in memory."""
    from stages.dedup.decontam import TaskIndex
    from stages.dedup.textdedup import exact_keep, minhash_near

    index = TaskIndex(task_texts, cfg.decontaminate)
    rows = [r for r, t in enumerate(texts) if index.match(t) is None]
    kept = exact_keep(rows, [texts[r] for r in rows], num_proc=1)
    rows = [r for r in rows if r in kept]
    return sorted(minhash_near(rows, [texts[r] for r in rows], cfg.near, seed, num_proc=1).kept)


@pytest.mark.parametrize("num_proc,shard_docs", [(1, 1000), (2, 7)])
def test_stage_keeps_what_text_dedup_keeps_in_memory(tmp_path, num_proc, shard_docs):
    from stages.dedup.run import dedup_dir

    texts, task_texts = made_corpus(3)
    write_stage_input(tmp_path, texts, task_texts, shard_docs)
    cfg = default_params("dedup")
    cfg = replace(cfg, num_proc=num_proc, near=replace(cfg.near, num_perm=64), removed_sample=100)
    cfg = replace(cfg, shuffle_dir=str(tmp_path))  # the work folder, to check it is removed
    m = dedup_dir(tmp_path / "clean", tmp_path / "out", tmp_path / "tasks", cfg, seed=5)
    out = [int(d["id"][1:]) for d in iter_docs(tmp_path / "out")]
    assert out == in_memory_kept(texts, task_texts, cfg, seed=5)
    assert m["exact_removed"] >= 10 and m["near_removed"] >= 5 and m["decontaminated_removed"] >= 1
    audit = {d["id"]: json.loads(d["meta"])["dedup"] for d in iter_docs(tmp_path / "out" / "removed")}
    assert len(audit) == len(texts) - len(out)
    for doc_id, info in audit.items():
        if info["reason"] != "decontaminated":
            keep = info["duplicate_of"]
            assert int(keep[1:]) in out and int(keep[1:]) < int(doc_id[1:])
    assert not list(tmp_path.glob("**/dedup-shuffle-*")), "partition files left behind"


# ---- the filter pass ---------------------------------------------------------------


def test_filter_pass_writes_the_bytes_a_document_writer_writes(tmp_path, monkeypatch):
    """Kept rows copied as arrow slices give the files ShardWriter gives from the same documents,
    with output shards that straddle input shards, a null meta, and a column that is not a doc's."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    import stages.dedup.run as run
    from stages.common.io import ShardWriter

    texts, _ = made_corpus(seed=3, distinct=40)
    rng = random.Random(0)
    docs = [
        {
            "id": f"d{i}",
            "text": t,
            "source": rng.choice(["a", "b", None]),
            "origin": "made",
            "license": "CC0",
            "meta": None if i % 5 == 0 else json.dumps({"i": i}),
            "extra": "not a document column",
        }
        for i, t in enumerate(texts)
    ]
    (tmp_path / "in").mkdir()
    for s in range(0, len(docs), 7):
        pq.write_table(pa.Table.from_pylist(docs[s : s + 7]), tmp_path / "in" / f"part-{s:05d}.parquet")
    removed = {r: run.Removal("exact", duplicate_of=0) for r in rng.sample(range(1, len(docs)), 15)}
    monkeypatch.setattr(run, "SHARD_DOCS", 5)
    written = run.write_outputs(tmp_path / "in", tmp_path / "out", run.Found(len(docs), removed), sample=2)
    with ShardWriter(tmp_path / "expect", 5) as w:
        w.write_many(d for i, d in enumerate(iter_docs(tmp_path / "in")) if i not in removed)

    def digests(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}

    assert written.kept == len(docs) - 15 and len(digests(tmp_path / "expect")) > 2
    assert digests(tmp_path / "out") == digests(tmp_path / "expect")
    assert sum(written.docs_in.values()) == len(docs) and sum(written.removed_by["exact"].values()) == 15
    assert written.docs_in[""] == sum(d["source"] is None for d in docs)

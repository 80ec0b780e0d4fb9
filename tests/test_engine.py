"""The engines without Ray: job order and errors on the local pool, pooled collect against one
process, the ray engine's chunked encoding against one pass, the tokenizer's training sample.
The Ray runs themselves are in test_engine_ray.py (slow)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from collect_fixtures import collect_params, local
from tokenizer_fixtures import make_docs, write_dedup

from stages.collect.collect import collect
from stages.common.engine import check_engine, map_jobs
from stages.common.errors import DataError, PipelineError
from stages.common.io import iter_docs, shard_paths
from stages.common.params import default_params
from stages.tokenizer.encode import SPLITS, VALID_IDS, SplitStats, concat_chunks, pack_tokens
from stages.tokenizer.run import ShardEncoder, run, split_docs
from stages.tokenizer.train import train_tokenizer

SEED = 1337


class Square:
    """A job function with a setup, as the stages' are; job 5 fails as a bad record would."""

    def __init__(self) -> None:
        self.ready = False

    def setup(self) -> None:
        self.ready = True

    def __call__(self, x: int) -> int:
        if x == 5:
            raise DataError("job 5: bad input")
        assert self.ready
        return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_local_pool_gives_results_in_job_order(workers):
    got = map_jobs("local", Square(), range(5), workers=workers, desc="t", unit="job")
    assert list(got) == [0, 1, 4, 9, 16]


def test_an_error_of_our_own_is_raised_at_its_jobs_turn():
    got = []
    with pytest.raises(DataError, match="job 5: bad input"):
        for r in map_jobs("local", Square(), range(8), workers=2, desc="t", unit="job"):
            got.append(r)
    assert got == [0, 1, 4, 9, 16]


def test_an_unknown_engine_names_the_key():
    with pytest.raises(PipelineError, match=r"clean\.engine: unknown engine 'spark'"):
        check_engine("spark", "clean.engine")


def _corpus(tmp_path):
    """Five jsonl files: documents, too-short records (skips) and a record that is not JSON."""
    folder = tmp_path / "in"
    folder.mkdir()
    for f in range(5):
        lines = [json.dumps({"text": f"file {f} document {i}: " + "words " * (i + 3)}) for i in range(7)]
        lines.insert(2, json.dumps({"text": "x"}))
        lines.insert(4, "{not json")
        (folder / f"part-{f}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("max_docs", [0, 3, 17])
def test_pooled_collect_writes_what_one_process_writes(tmp_path, max_docs):
    folder = _corpus(tmp_path)
    sources = [
        local(folder / "part-*.jsonl", name="a", min_chars=5, max_docs=max_docs),
        local(folder / "part-[03].jsonl", name="b", min_chars=5),
    ]
    out = {}
    for n in (1, 2):
        cfg = collect_params(sources, shard_docs=4, num_proc=n)
        m = collect(cfg, out_dir=tmp_path / f"raw{n}", metrics_path=tmp_path / f"m{n}.json", seed=SEED)
        out[n] = (list(iter_docs(tmp_path / f"raw{n}")), m)
    assert out[2] == out[1]
    docs, m = out[1]
    assert m["sources"]["a"]["documents"] == (max_docs or 35)
    assert m["sources"]["a"]["skipped"]["too_short"] >= 1 and m["sources"]["b"]["files"] == 2


def test_pooled_collect_reads_no_file_of_a_capped_source_after_the_window_that_capped_it(
    tmp_path, monkeypatch
):
    import stages.collect.collect as collect_module

    folder = _corpus(tmp_path)
    pulled = []
    monkeypatch.setattr(collect_module, "_file_jobs", _recording_file_jobs(collect_module, pulled))
    monkeypatch.setattr(collect_module, "WINDOW_BYTES", 1)  # a window a file
    sources = [
        local(folder / "part-*.jsonl", name="a", min_chars=5, max_docs=9),
        local(folder / "part-[03].jsonl", name="b", min_chars=5),
    ]
    out = {}
    for n in (1, 2):
        pulled.clear()
        cfg = collect_params(sources, shard_docs=4, num_proc=n)
        m = collect(cfg, out_dir=tmp_path / f"raw{n}", metrics_path=tmp_path / f"m{n}.json", seed=SEED)
        out[n] = (list(iter_docs(tmp_path / f"raw{n}")), m)
    assert out[2] == out[1]
    # 7 documents a file: the cap of 9 is reached in the second file, and the third is never read.
    assert out[2][1]["sources"]["a"]["files"] == 2
    assert pulled == [
        ("a", "part-0.jsonl"),
        ("a", "part-1.jsonl"),
        ("b", "part-0.jsonl"),
        ("b", "part-3.jsonl"),
    ]


def _recording_file_jobs(module, pulled):
    """`_file_jobs` with every file it reads appended to `pulled` as (source, file name)."""
    original = module._file_jobs

    def file_jobs(group):
        for job in original(group):
            pulled.append((job.src.name, job.name))
            yield job

    return file_jobs


def test_a_capped_sources_files_get_windows_of_their_own():
    from stages.collect.collect import FileJob, _byte_windows

    cfg = collect_params(
        [local("x", name=n, max_docs=c) for n, c in [("a", 0), ("b", 5), ("c", 0), ("d", 0)]]
    )
    src = {s.name: s for s in cfg.sources_to_read()}
    jobs = [FileJob(src[n], f"{n}{i}", f"{n}{i}.txt", b"xx") for n, i in ["a0", "a1", "b0", "b1", "c0", "d0"]]
    windows = [[j.origin for j in w] for w in _byte_windows(iter(jobs), limit=100)]
    assert windows == [["a0", "a1"], ["b0", "b1"], ["c0", "d0"]]
    assert [len(w) for w in _byte_windows(iter(jobs), limit=2)] == [1] * 6


def test_pooled_collect_stops_on_the_same_record_under_on_error_fail(tmp_path):
    folder = _corpus(tmp_path)
    errors = []
    for n in (1, 2):
        cfg = collect_params([local(folder / "*.jsonl", min_chars=5)], on_error="fail", num_proc=n)
        with pytest.raises(DataError) as e:
            collect(cfg, out_dir=tmp_path / f"raw{n}", metrics_path=tmp_path / f"m{n}.json")
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "part-0.jsonl" in errors[0]


def test_chunked_encoding_gives_the_bytes_of_one_pass(tmp_path):
    """What the ray engine does per shard (ShardEncoder, then concat_chunks), done here in order."""
    cfg = default_params("tokenizer", vocab_size=300, min_frequency=1, valid_fraction=0.2, batch_docs=7)
    dedup = write_dedup(tmp_path / "dedup", make_docs(90), shard_docs=20)
    shards = shard_paths(dedup)
    tok = train_tokenizer((t for _, _, t in split_docs(shards, SEED, 0.2, Counter())), cfg)
    eos = tok.token_to_id("<|endoftext|>")
    one = tmp_path / "one"
    one.mkdir()
    _, whole = pack_tokens(split_docs(shards, SEED, 0.2, Counter()), tok, one, cfg.batch_docs, eos)

    jobs = [(p, tmp_path / "chunks" / f"{i:05d}") for i, p in enumerate(shards)]
    encoder = ShardEncoder(cfg, SEED, tok.to_str(), eos)
    encoder.setup()  # as map_jobs does on each worker
    results = [encoder(job) for job in jobs]
    chunked = tmp_path / "chunked"
    chunked.mkdir()
    concat_chunks([c for _, c in jobs], chunked)
    assert len(shards) == 5
    for name in [f"{s}.bin" for s in SPLITS] + [VALID_IDS]:
        assert (chunked / name).read_bytes() == (one / name).read_bytes(), name
    for s in SPLITS:
        merged = SplitStats()
        for stats, _ in results:
            merged.merge(stats[s])
        assert (merged.n_tokens, merged.n_docs) == (whole[s].n_tokens, whole[s].n_docs)
        assert (merged.id_counts == whole[s].id_counts).all()


def test_a_document_without_id_is_named_by_its_shard_and_row_on_both_engines(tmp_path):
    docs = make_docs(50)
    docs[27]["id"] = ""
    shards = shard_paths(write_dedup(tmp_path / "dedup", docs, shard_docs=20))
    errors = []
    for paths in (shards, shards[1:2]):  # the local pass reads every shard, a ray job one
        with pytest.raises(DataError) as e:
            list(split_docs(paths, SEED, 0.2, Counter()))
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith(f"{shards[1]}: the document at row 7 has no id")


def test_the_tokenizer_trains_on_a_seeded_sample_of_about_the_bytes_asked(tmp_path):
    dedup = write_dedup(tmp_path / "dedup", make_docs(400))
    base = {"vocab_size": 300, "min_frequency": 1, "valid_fraction": 0.1}
    full = run(default_params("tokenizer", **base), SEED, dedup, tmp_path / "t0", tmp_path / "k0")
    budget = full["n_bytes"]["train"] // 4
    cfg = default_params("tokenizer", **base, train_sample_bytes=budget)
    runs = [run(cfg, SEED, dedup, tmp_path / f"t{i}", tmp_path / f"k{i}") for i in (1, 2)]
    sample = runs[0]["train_sample"]
    assert "train_sample" not in full  # 0 = every train document, the metrics as before
    assert 0.6 * budget < sample["bytes"] < 1.4 * budget
    assert sample["docs"] < sample["of_docs"] == full["n_docs"]["train"]
    # Seeded: the same sample, hence the same vocabulary; every document is still encoded.
    assert (tmp_path / "t1" / "tokenizer.json").read_bytes() == (
        tmp_path / "t2" / "tokenizer.json"
    ).read_bytes()
    assert runs[0]["n_docs"] == full["n_docs"]

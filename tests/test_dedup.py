"""Tests for the dedup stage on small made-up corpora (text-dedup runs with num_proc 1)."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from params_fixtures import merged

from stages.common.errors import DataError, ParamsError
from stages.common.io import ShardWriter, iter_docs
from stages.common.params import default_params, parse
from stages.dedup.config import DedupParams

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")

VOCAB = [f"w{i}" for i in range(5000)]


def random_doc(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n_words))


def edit_words(text: str, rng: random.Random, n_changes: int) -> str:
    toks = text.split()
    for i in rng.sample(range(len(toks)), n_changes):
        toks[i] = "changed"
    return " ".join(toks)


@pytest.fixture()
def corpus() -> dict[str, list[str]]:
    """Distinct documents, exact copies, near copies (2 of 300 words changed), an excerpt."""
    rng = random.Random(0)
    distinct = [random_doc(rng, 300) for _ in range(8)]
    return {
        "distinct": distinct,
        "exact": [distinct[0], distinct[1]],
        "near": [edit_words(distinct[2], rng, 2), edit_words(distinct[3], rng, 2)],
        "excerpt": [" ".join(distinct[4].split()[100:160])],
    }


# ---- n-grams and decontamination -------------------------------------------------


def test_window_hashes_equal_only_for_equal_windows():
    from stages.dedup.ngrams import window_hashes, word_ids, words

    a = window_hashes(word_ids(words("A b, c d e")), 3)
    b = window_hashes(word_ids(words("x a B c d")), 3)
    assert len(a) == 3 and len(b) == 3
    assert a[0] == b[1]  # "a b c" after lower-casing and dropping punctuation
    assert len(set(a.tolist()) & set(b.tolist())) == 2  # "a b c", "b c d"; not "c d e"/"x a b"


def test_task_index_matches_long_ngrams_and_short_texts_whole():
    from stages.dedup.decontam import TaskIndex

    long_text = " ".join(f"t{i}" for i in range(20))
    index = TaskIndex(
        [long_text, "I really loved this film, what a ride!", "too short"],
        default_params("dedup.decontaminate"),
    )
    assert index.size == 8 + 1  # 20 - 13 + 1 windows, one short text
    assert index.unindexed_texts == 1
    window = " ".join(f"t{i}" for i in range(5, 18))
    assert index.match(f"prefix {window.upper()} suffix") == window
    assert index.match(" ".join(f"t{i}" for i in range(5, 17))) is None  # 12 words only
    assert index.match("Quote: 'i really loved this film -- what a ride'.") is not None
    assert index.match("i really loved this film what a") is None
    assert index.match("too short") is None


def test_task_files_errors_name_the_problem(tmp_path):
    from stages.dedup.decontam import build_index, task_files

    with pytest.raises(DataError, match="not found.*tasks stage"):
        task_files(tmp_path / "tasks")
    (tmp_path / "tasks" / "classify").mkdir(parents=True)
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "tasks" / "classify" / "train.parquet")
    with pytest.raises(DataError, match="valid.parquet"):
        task_files(tmp_path / "tasks")
    pq.write_table(pa.table({"sentence": ["x"]}), tmp_path / "tasks" / "classify" / "test.parquet")
    with pytest.raises(DataError, match="test.parquet: has no `text` column"):
        build_index(tmp_path / "tasks", default_params("dedup.decontaminate"))


# ---- exact and near duplicates -------------------------------------------------


def test_exact_keeps_first_copy(corpus):
    from stages.dedup.textdedup import exact_keep

    texts = corpus["distinct"][:3] + corpus["exact"] + corpus["near"]
    rows = [10 * i for i in range(len(texts))]  # row numbers need not be positions
    kept = exact_keep(rows, texts, num_proc=1)
    assert kept == {0, 10, 20, 50, 60}


def test_minhash_merges_near_copies_never_distinct_docs(corpus):
    from stages.dedup.textdedup import minhash_near

    texts = corpus["distinct"] + corpus["near"]
    rows = list(range(len(texts)))
    result = minhash_near(rows, texts, default_params("dedup.near", num_perm=64), seed=1, num_proc=1)
    assert result.clusters == ((2, 8), (3, 9))
    assert len(result.kept) == 8
    assert all(sum(r in result.kept for r in c) == 1 for c in result.clusters)


def test_minhash_ignores_layout_and_punctuation(corpus):
    from stages.dedup.textdedup import minhash_near

    words = corpus["distinct"][0].split()
    relaid = "\n\n".join(", ".join(words[i : i + 12]) + "." for i in range(0, len(words), 12))
    result = minhash_near(
        [0, 1], [corpus["distinct"][0], relaid.upper()], default_params("dedup.near", num_perm=64), 1, 1
    )
    assert result.clusters == ((0, 1),) and result.kept == {0}


def test_minhash_keeps_short_documents(corpus):
    from stages.dedup.textdedup import minhash_near

    texts = ["one", "two words", corpus["distinct"][0]]
    result = minhash_near([0, 1, 2], texts, default_params("dedup.near", num_perm=64), seed=1, num_proc=1)
    assert result.kept == {0, 1, 2} and result.clusters == ()


def test_containment_catches_excerpt_keeps_source(corpus):
    from stages.dedup.containment import containment_near
    from stages.dedup.textdedup import minhash_near

    texts = corpus["distinct"] + corpus["excerpt"]
    rows = list(range(len(texts)))
    params = default_params("dedup.near", method="containment", threshold=0.8, num_perm=128)
    result = containment_near(rows, texts, params, seed=1)
    assert result.clusters == ((4, 8),)
    assert 4 in result.kept and 8 not in result.kept
    # MinHash (Jaccard) misses the same excerpt: that is why containment exists.
    assert (
        minhash_near(rows, texts, default_params("dedup.near", num_perm=64), seed=1, num_proc=1).clusters
        == ()
    )


def test_params_reject_bad_values():
    with pytest.raises(ParamsError, match=r"dedup.near.threshold"):
        parse(DedupParams, merged("dedup", {"near": {"threshold": 1.5}}), "dedup")
    with pytest.raises(ParamsError, match=r"dedup.decontaminate.min_words"):
        parse(DedupParams, merged("dedup", {"decontaminate": {"ngram": 13, "min_words": 20}}), "dedup")
    with pytest.raises(ParamsError, match="unknown key"):
        parse(DedupParams, merged("dedup", {"near": {"bands": 3}}), "dedup")


# ---- the stage end to end --------------------------------------------------------


def _docs(corpus) -> list[dict[str, str]]:
    docs = []
    for kind, texts in corpus.items():
        for i, text in enumerate(texts):
            docs.append(
                {
                    "id": f"{kind}-{i}",
                    "text": text,
                    "source": "web" if kind == "near" else "books",
                    "origin": f"made-up/{kind}/{i}",
                    "license": "CC0",
                    "meta": json.dumps({"kind": kind}),
                }
            )
    return docs


@pytest.fixture()
def stage_dir(tmp_path, monkeypatch, corpus):
    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dedup"]["num_proc"] = 1
    params["dedup"]["near"]["num_perm"] = 64
    Path("params.yaml").write_text(yaml.safe_dump(params))
    with ShardWriter("data/clean", shard_docs=5) as w:  # several shards
        w.write_many(_docs(corpus))
    # One evaluation text copies 13+ words of distinct doc 6: that doc is contaminated.
    task = Path("data/tasks/classify")
    task.mkdir(parents=True)
    leak = " ".join(corpus["distinct"][6].split()[40:60])
    pq.write_table(
        pa.table({"text": [leak, "an unrelated test sentence"], "label": [1, 0]}), task / "test.parquet"
    )
    pq.write_table(pa.table({"text": ["valid text that is nowhere"], "label": [0]}), task / "valid.parquet")
    return tmp_path


def test_stage_writes_kept_docs_whole_and_counts_every_removal(stage_dir):
    from stages.dedup.run import main

    main()
    out = list(iter_docs("data/dedup"))
    ids = [d["id"] for d in out]
    assert ids == [f"distinct-{i}" for i in range(8) if i != 6] + ["excerpt-0"]
    first = out[0]
    assert first == {**first, "source": "books", "origin": "made-up/distinct/0", "license": "CC0"}
    assert json.loads(first["meta"]) == {"kind": "distinct"}

    m = json.loads(Path("metrics/dedup.json").read_text())
    assert (m["documents_in"], m["documents_out"]) == (13, 8)
    assert (m["exact_removed"], m["near_removed"], m["decontaminated_removed"]) == (2, 2, 1)
    assert m["near"]["clusters"] == 2 and m["near"]["cross_source_clusters"] == 2
    assert m["by_source"]["web"] == {
        "documents_in": 2,
        "documents_out": 0,
        "exact_removed": 0,
        "near_removed": 2,
        "decontaminated_removed": 0,
    }
    assert m["decontamination"]["task_files"] == 2

    audit = {d["id"]: json.loads(d["meta"])["dedup"] for d in iter_docs("data/dedup/removed")}
    assert audit["exact-0"] == {"reason": "exact", "duplicate_of": "distinct-0"}
    assert audit["near-1"] == {"reason": "near", "duplicate_of": "distinct-3"}
    assert audit["distinct-6"]["reason"] == "decontaminated"
    assert not any(p.name.startswith(".") for p in Path(".").iterdir()), "temp files left in the repo"


def test_stage_without_tasks_says_what_to_do(stage_dir):
    from stages.dedup.run import main

    shutil.rmtree("data/tasks")
    with pytest.raises(DataError, match="data/tasks: not found"):
        main()
    assert not Path("data/dedup").exists()

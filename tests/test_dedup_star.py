"""Large-star/small-star (stages/dedup/star.py) finds the components the union-find finds, on
random and shaped graphs, on both engines, and the stage writes the same bytes with either."""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from dedup_fixtures import made_corpus, write_stage_input
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from params_fixtures import merged

from stages.common.errors import ParamsError
from stages.common.params import default_params, parse
from stages.dedup.config import DedupParams
from stages.dedup.shuffle import components
from stages.dedup.star import star_components

os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")


def star(batches, partitions: int, engine: str = "local", workers: int = 1):
    with tempfile.TemporaryDirectory(prefix="star-test-") as work:
        return star_components(batches, work, partitions, engine=engine, workers=workers)


def split(groups: list[list[int]], n: int) -> list[list[list[int]]]:
    """The groups cut into `n` batches (edge files), as band partitions hand them over."""
    return [groups[i::n] for i in range(n)]


# Groups of 1-5 rows from a small id range, so that groups overlap into components of every
# size; rows may repeat inside a group (a self-loop) and whole groups may repeat (duplicate edges).
groups_st = st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=5).map(sorted), max_size=80)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=groups_st, partitions=st.integers(1, 9), batches=st.integers(1, 4))
def test_star_finds_the_union_find_components_on_random_graphs(groups, partitions, batches):
    got = star(split(groups, batches), partitions)
    assert got.clusters == components(groups)
    assert got.rounds >= 1


def _chain(n: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(n).shuffle(order)  # ids along the path in random order: the slow case
    return [sorted(order[i : i + 2]) for i in range(n - 1)]


SHAPES = {
    "chain": _chain(500),
    "chain, ids in order": [[i, i + 1] for i in range(300)],
    "star around its largest id": [[i, 400] for i in range(400)],
    "star around its smallest id": [[0, i] for i in range(1, 400)],
    "many components of two": [[2 * i, 2 * i + 1] for i in range(300)],
    "self-loops and duplicate edges": [[5, 5], [7, 7], [1, 2], [1, 2], [2, 1 + 1], [9, 9, 10]],
    "one big group and singletons": [list(range(0, 200, 3)), [500], [600]],
    "binary tree": [[i, 2 * i + 1] for i in range(255)] + [[i, 2 * i + 2] for i in range(255)],
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("partitions", [1, 7])
def test_star_finds_the_union_find_components_on_shaped_graphs(shape, partitions):
    groups = [sorted(g) for g in SHAPES[shape]]
    got = star(split(groups, 3), partitions)
    expect = components(groups)
    assert got.clusters == expect and len(expect) >= 1
    # Every component is its smallest row first: the row the filter pass keeps.
    assert all(c[0] == min(c) for c in got.clusters)


def test_star_on_no_edges_finds_no_components():
    assert star([], 4).clusters == () and star([[[3]], []], 4).clusters == ()


def test_star_leaves_no_round_files_behind_but_the_last_two(tmp_path):
    star_components(split(_chain(200), 2), str(tmp_path), 5, engine="local", workers=1)
    rounds = sorted(p.name for p in (tmp_path / "star").iterdir())
    assert 1 <= len(rounds) <= 2, rounds


def test_star_runs_on_a_process_pool():
    groups = _chain(300) + [[1000 + i, 2000] for i in range(50)]
    got = star(split(groups, 4), 6, engine="local", workers=2)
    assert got.clusters == components(groups) and len(got.clusters) == 2


@pytest.mark.slow
def test_star_on_ray_finds_what_local_finds(monkeypatch):
    from stages.common.engine import ray_session

    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a cluster of the test's own ("local")
    rng = random.Random(4)
    groups = [sorted(rng.sample(range(400), rng.randint(2, 4))) for _ in range(150)] + _chain(100)
    with ray_session(2):
        got = star(split(groups, 3), 5, engine="ray", workers=2)
    assert got.clusters == star(split(groups, 3), 5).clusters == components(groups)


# ---- the stage and its params -------------------------------------------------------


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("num_proc,shard_docs", [(1, 1000), (2, 7)])
def test_stage_writes_the_same_bytes_with_star_as_with_union_find(tmp_path, num_proc, shard_docs):
    from stages.dedup.run import dedup_dir

    texts, task_texts = made_corpus(5, distinct=50)
    write_stage_input(tmp_path, texts, task_texts, shard_docs)
    cfg = default_params("dedup")
    cfg = replace(cfg, num_proc=num_proc, near=replace(cfg.near, num_perm=64), removed_sample=100)
    metrics = {}
    for algo in ("union_find", "star"):
        metrics[algo] = dedup_dir(
            tmp_path / "clean", tmp_path / algo, tmp_path / "tasks", replace(cfg, components=algo), seed=5
        )
    assert metrics["star"] == metrics["union_find"] and metrics["star"]["near_removed"] >= 5
    assert digest(tmp_path / "star") == digest(tmp_path / "union_find")


def test_auto_runs_union_find_up_to_the_document_limit_and_star_above():
    cfg = default_params("dedup", components="auto", union_find_max_docs=1000)
    assert not cfg.star(1000) and cfg.star(1001)
    assert not replace(cfg, components="union_find").star(10**12)
    assert replace(cfg, components="star").star(1)
    # The shipped params keep the default corpus (a few thousand documents) on union-find.
    assert default_params("dedup").components == "auto" and not default_params("dedup").star(10**6)


@pytest.mark.parametrize(
    "changes,says",
    [
        ({"components": "bfs"}, "components"),
        ({"components": "unionfind"}, "union_find"),
        ({"union_find_max_docs": -1}, "union_find_max_docs"),
        ({"union_find_max_docs": "lots"}, "union_find_max_docs"),
    ],
)
def test_a_bad_components_param_is_refused_by_name(changes, says):
    with pytest.raises(ParamsError, match=says):
        parse(DedupParams, merged("dedup", changes), "dedup")

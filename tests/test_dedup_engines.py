"""`dedup.engine: ray` writes what `local` writes (ids, texts, order, audit, metrics): on the tiny
profile's data, on a made corpus with injected duplicates, and on three simulated Ray nodes.
Slow: each test starts Ray (10-30 s here)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from dedup_fixtures import made_corpus, write_stage_input

from stages.common.params import default_params, load_section, load_seed

os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")
pytestmark = pytest.mark.slow


def digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` by relative path -> sha256: equal digests, equal outputs."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_both(clean: Path, tasks: Path, out: Path, cfg, seed: int) -> tuple[dict, dict]:
    from stages.dedup.run import dedup_dir

    metrics = {}
    for engine in ("local", "ray"):
        metrics[engine] = dedup_dir(clean, out / engine, tasks, replace(cfg, engine=engine), seed)
    return metrics["local"], metrics["ray"]


def test_ray_writes_what_local_writes_on_the_tiny_profile(repo, tmp_path):
    """`repo`: the session's tiny-profile repository (conftest.py), its data/clean, data/tasks
    and data/dedup as `dvc repro` wrote them."""
    cfg = load_section("dedup", repo / "params.yaml")
    seed = load_seed(repo / "params.yaml")
    local, ray = run_both(repo / "data" / "clean", repo / "data" / "tasks", tmp_path, cfg, seed)
    assert local == ray and local["documents_in"] > 100
    # dvc repro ran the stage on `local` too, as `python -m stages.dedup`.
    assert digest(tmp_path / "local") == digest(tmp_path / "ray") == digest(repo / "data" / "dedup")


def test_ray_writes_what_local_writes_with_injected_duplicates(tmp_path):
    texts, task_texts = made_corpus(4)
    write_stage_input(tmp_path, texts, task_texts, shard_docs=9)
    cfg = default_params("dedup")
    cfg = replace(cfg, near=replace(cfg.near, num_perm=64))
    local, ray = run_both(tmp_path / "clean", tmp_path / "tasks", tmp_path, cfg, seed=3)
    assert local == ray and local["exact_removed"] >= 10 and local["near_removed"] >= 5
    assert digest(tmp_path / "local") == digest(tmp_path / "ray")


def test_three_simulated_nodes_write_what_one_process_writes(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    from stages.dedup.run import dedup_dir

    texts, task_texts = made_corpus(5)
    write_stage_input(tmp_path, texts, task_texts, shard_docs=9)
    cfg = default_params("dedup")
    cfg = replace(cfg, num_proc=1, near=replace(cfg.near, num_perm=64))
    dedup_dir(tmp_path / "clean", tmp_path / "local", tmp_path / "tasks", cfg, seed=3)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 3
        # The stage joins the open session, as it joins RAY_ADDRESS's cluster.
        dedup_dir(tmp_path / "clean", tmp_path / "ray", tmp_path / "tasks", replace(cfg, engine="ray"), 3)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert digest(tmp_path / "local") == digest(tmp_path / "ray")

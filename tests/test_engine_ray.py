"""The ray engine against the local one: a 3-node Ray cluster on this machine cleans and encodes
as the local pool does, and the whole tiny profile with `engine: ray` gives local's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from clean_fixtures import PROSE
from pipeline_fixtures import ROOT, UPSTREAM, repro, sh
from tokenizer_fixtures import make_docs, write_dedup

from stages.common.io import ShardWriter, iter_docs
from stages.common.params import default_params
from stages.tokenizer.run import run as run_tokenizer

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

SEED = 1337
ENGINE_SECTIONS = ("collect", "clean", "dedup", "tokenizer")  # each that has an `engine` key


@pytest.fixture(scope="module")
def cluster():
    """Three Ray nodes of 1 CPU each on this machine, the driver joined to the head."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        c.add_node(num_cpus=1)
    ray.init(address=c.address, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield c
    ray.shutdown()
    c.shutdown()


def _raw(root: Path) -> None:
    docs = make_docs(60, seed=3)
    docs += [{**d, "id": f"prose-{i}", "text": PROSE + f" Part {i}."} for i, d in enumerate(docs[:20])]
    docs += [{**d, "id": f"short-{i}", "text": "Click here."} for i, d in enumerate(docs[:5])]
    with ShardWriter(root / "data" / "raw", shard_docs=15) as w:  # 6 shards for 3 workers
        w.write_many(docs)


def _clean(root: Path, engine: str) -> tuple[list[dict], dict]:
    from stages.clean.run import main

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["clean"].update(engine=engine, num_proc=3, steps=["normalize", "quality"])
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    main()
    return list(iter_docs(root / "data" / "clean")), json.loads((root / "metrics" / "clean.json").read_text())


def test_a_three_node_cluster_cleans_and_encodes_as_the_local_pool(cluster, tmp_path, monkeypatch):
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    _raw(tmp_path)
    local_docs, local_m = _clean(tmp_path, "local")
    ray_docs, ray_m = _clean(tmp_path, "ray")
    assert ray_docs == local_docs and ray_m == local_m
    assert 0 < local_m["totals"]["docs_out"] < local_m["totals"]["docs_in"]

    dedup = write_dedup(tmp_path / "dedup", make_docs(150), shard_docs=25)
    out = {}
    for engine in ("local", "ray"):
        cfg = default_params("tokenizer", vocab_size=300, min_frequency=1, valid_fraction=0.2, batch_docs=10)
        cfg = type(cfg)(**{**cfg.__dict__, "engine": engine, "num_proc": 3})
        m = run_tokenizer(cfg, SEED, dedup, tmp_path / f"tok-{engine}", tmp_path / f"tokens-{engine}")
        files = {p.name: p.read_bytes() for p in sorted((tmp_path / f"tokens-{engine}").iterdir())}
        out[engine] = (files, {k: v for k, v in m.items() if not k.endswith("_seconds")})
    assert out["ray"] == out["local"]
    assert set(out["local"][0]) == {"train.bin", "valid.bin", "valid_ids.txt", "meta.json"}


def _outs(repo: Path) -> dict[str, object]:
    """Every stage's outputs in dvc.lock, as DVC hashed them, but the metrics files and the
    report, which print the stages' timings."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {
        f"{stage}:{o['path']}": o.get("md5")
        for stage, entry in lock.items()
        for o in entry.get("outs", [])
        if stage != "report" and not o["path"].startswith("metrics/")
    }


def test_the_whole_tiny_profile_on_ray_gives_locals_outputs(repo):
    """`engine: ray` everywhere (a local Ray of 2 CPUs started by each stage) reruns the data
    stages only, with byte-equal outputs, so nothing after them reruns but the report, which
    reads their timings."""
    before = _outs(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    switched = [s for s in ENGINE_SECTIONS if "engine" in params[s]]
    for section in switched:
        params[section].update(engine="ray", num_proc=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = repro(repo)
    assert {"collect", "clean", "tokenizer"} <= set(switched)
    assert set(switched) <= stages <= UPSTREAM | {"report"}
    assert _outs(repo) == before
    sh(["dvc", "status", "--quiet"], repo)  # every output matches dvc.lock

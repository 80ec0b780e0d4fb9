"""Training across nodes: the launch params, 2 "nodes" on localhost against one process, the
all-reduce skipped on accumulation micro-steps, and the epoch warning."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.multiprocessing as mp
from params_fixtures import merged
from pretrain_fixtures import SEED, curve, project, tiny

from stages.common.errors import ParamsError
from stages.common.params import parse
from stages.pretrain import parallel
from stages.pretrain.config import PretrainParams
from stages.pretrain.loop import check_epochs
from stages.pretrain.run import pretrain

ROOT = Path(__file__).resolve().parents[1]


def launch(**keys: object) -> PretrainParams:
    """The default pretrain section with launch keys (gpus, nodes, node_rank, rdzv_*) changed."""
    return parse(PretrainParams, merged("pretrain", keys), "pretrain")


def test_bad_node_combinations_name_the_key_and_the_fix():
    with pytest.raises(ParamsError, match=r"rdzv_endpoint: nodes is 2: set it to host:port of node 0"):
        launch(nodes=2)
    with pytest.raises(ParamsError, match=r"node_rank: is 2 but nodes is 2: give 0\.\.1"):
        launch(nodes=2, node_rank=2, rdzv_endpoint="node001:29500")
    with pytest.raises(ParamsError, match=r"rdzv_endpoint: is 'node001:29500' but nodes is 1"):
        launch(rdzv_endpoint="node001:29500")
    with pytest.raises(ParamsError, match=r"rdzv_endpoint: nodes is 2"):
        launch(nodes=2, rdzv_endpoint="node001")  # no port
    with pytest.raises(ParamsError, match=r"node_rank: 'SLURM-NODEID' is neither a rank nor"):
        launch(nodes=2, node_rank="SLURM-NODEID", rdzv_endpoint="node001:29500")
    with pytest.raises(ParamsError, match=r"nodes: must be at least 1"):
        launch(nodes=0)


def test_a_node_rank_from_the_environment_reaches_torchrun(monkeypatch):
    cfg = launch(gpus=4, nodes=2, node_rank="SLURM_NODEID", rdzv_endpoint="node001:29500", rdzv_id="job7")
    assert cfg.processes == 8
    monkeypatch.setenv("SLURM_NODEID", "1")
    cmd = parallel.torchrun_command(cfg)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert cmd[3:] == [
        "--nnodes=2",
        "--node-rank=1",
        "--rdzv-backend=static",
        "--rdzv-endpoint=node001:29500",
        "--rdzv-id=job7",
        "--nproc-per-node=4",
        "-m",
        "stages.pretrain",
    ]
    assert "--standalone" in parallel.torchrun_command(launch(gpus=2))
    monkeypatch.setenv("SLURM_NODEID", "2")
    with pytest.raises(ParamsError, match=r"\$SLURM_NODEID is '2', not a rank in 0\.\.1"):
        parallel.torchrun_command(cfg)
    monkeypatch.delenv("SLURM_NODEID")
    with pytest.raises(ParamsError, match="SLURM_NODEID, which is not set on this node"):
        parallel.torchrun_command(cfg)


def test_a_budget_of_many_epochs_warns_with_both_numbers_and_the_fix(caplog):
    with caplog.at_level(logging.WARNING):
        check_epochs(2000, 65536, 4_500_000, 4)
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "2000 steps x 65,536 tokens = 131,072,000 tokens is 29.1 epochs" in msg
    assert "over the 4,500,000 training tokens" in msg and "warn_epochs (4)" in msg
    assert "lower train.max_tokens to 18,000,000 or max_steps to 274" in msg
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_epochs(100, 65536, 4_500_000, 4)  # 1.5 epochs
    assert not caplog.records


def test_pretrain_warns_when_its_budget_passes_over_the_tokens_too_often(data, tmp_path, caplog):
    cfg = tiny(steps=2, train={"warn_epochs": 0.001})
    with caplog.at_level(logging.WARNING, logger="stages.pretrain.loop"):
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "model")
    assert any("more than train.warn_epochs (0.001)" in r.getMessage() for r in caplog.records)


# --- several processes (gloo on the CPU) ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_on_localhost_follow_one_process_with_the_same_global_batch(data, tmp_path):
    """Node 0 and node 1, each `python -m stages.pretrain` with 1 process, in folders of their own
    (node 1 writes nothing), against one process with both nodes' rows in its batch."""
    one = project(tmp_path / "one", data, max_steps=8, batch_size=8, checkpoint_every=0)
    endpoint = f"127.0.0.1:{free_port()}"
    two = dict(max_steps=8, batch_size=4, checkpoint_every=0, nodes=2, node_rank="NODE_RANK_TEST")
    nodes = [project(tmp_path / f"node{i}", data, **two, rdzv_endpoint=endpoint) for i in (0, 1)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIPELINE_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stages.pretrain"],
            cwd=where,
            env={**env, "NODE_RANK_TEST": str(i)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, where in enumerate([*nodes, one])
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-4000:]
    a, b = curve(one), curve(nodes[0])
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 9))
    # The same rows in the same order; only the float sums differ (two halves, then averaged).
    assert [v for _, v in b] == pytest.approx([v for _, v in a], abs=2e-4)
    m = json.loads((nodes[0] / "metrics/pretrain.json").read_text())
    assert m["processes"] == 2
    assert m["tokens_seen"] == json.loads((one / "metrics/pretrain.json").read_text())["tokens_seen"]
    assert not (nodes[1] / "models/pretrain").exists()  # global rank 0 is node 0: it alone writes


def _train_two_ranks(rank: int, init_file: str, mode: str, out: str) -> None:
    """One of 2 gloo ranks: 3 steps of grad_accum 4 on a tiny Llama, with every micro-step's
    gradients reduced and with the reduction skipped on all but the last; rank 0 saves the
    weights of both and how many gradient reductions each ran."""
    import torch
    import torch.distributed as dist
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from transformers import LlamaConfig, LlamaForCausalLM

    from stages.common.lm_train import Batches, LmObjective, StepSettings, train_step
    from stages.common.optim import TrainState, cosine_schedule, make_optimizer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    world = parallel.World(rank, 2, 0)
    reductions = [0]

    def count(state, bucket):  # DDP's own all-reduce, counted
        reductions[0] += 1
        return allreduce_hook(state, bucket)

    reduce_scatter = dist.reduce_scatter_single

    def counted(*args, **kwargs):
        reductions[0] += 1
        return reduce_scatter(*args, **kwargs)

    dist.reduce_scatter_single = counted  # FSDP2 reduce-scatters through the module, once per unit
    cfg = LlamaConfig(
        vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=16,
    )  # fmt: skip
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    how = StepSettings(batch_size=2, grad_accum=4, grad_clip=1.0, device="cpu", precision="fp32")
    tokens = np.random.default_rng(1).integers(0, 61, size=2000)
    saved = {}
    for skip in (False, True):
        torch.manual_seed(0)
        model = parallel.wrap(LlamaForCausalLM(cfg), mode, "cpu", world)
        if mode == "ddp":
            model.register_comm_hook(None, count)
        initial = {k: v.clone() for k, v in get_model_state_dict(model, options=options).items()}
        gens = np.random.default_rng(2), torch.Generator().manual_seed(2)
        state = TrainState(
            model, make_optimizer(model, 1e-2, 0.1, (0.9, 0.95), fused=False),
            cosine_schedule(1e-2, 1e-3, 1, 3), batches=Batches(tokens, *gens, LmObjective("clm", 16), rank, 2),
        )  # fmt: skip
        reductions[0] = 0
        for _ in range(3):
            train_step(state, how, None, parallel.no_sync(model, world) if skip else None)
        weights = get_model_state_dict(model, options=options)
        saved[skip] = {"initial": initial, "weights": weights, "reductions": reductions[0]}
    if rank == 0:
        torch.save(saved, out)
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_skipping_the_all_reduce_on_micro_steps_leaves_the_updates_unchanged(tmp_path, mode):
    import torch

    out = tmp_path / "runs.pt"
    mp.spawn(_train_two_ranks, args=(str(tmp_path / "init"), mode, str(out)), nprocs=2)
    synced, skipped = torch.load(out, weights_only=True).values()
    # Every micro-step reduced, against once per step: a quarter of the reductions with grad_accum 4.
    assert skipped["reductions"] * 4 == synced["reductions"] > 0
    assert synced["initial"].keys() == skipped["weights"].keys()
    moved = max(float((w - synced["initial"][k]).abs().max()) for k, w in synced["weights"].items())
    assert moved > 1e-3  # the steps trained, so equal weights mean equal updates
    for name, w in synced["weights"].items():
        # Summing 4 micro-gradients before or after the average over ranks rounds differently,
        # in the last bits; after 3 AdamW steps of lr 1e-2 the weights agree far inside 1e-5.
        assert (w - skipped["weights"][name]).abs().max() < 1e-5, name

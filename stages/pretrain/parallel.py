"""Training on several processes: `pretrain.gpus > 1` or `nodes > 1` runs the stage again under torchrun.

Every rank builds the same model from the same seed and draws the same global batch,
keeping only its own rows (loop.Batches), so the run follows the single-process run with
the same global batch. `parallel: ddp` replicates the model and averages gradients;
`parallel: fsdp` shards weights, gradients and optimizer state with FSDP2 (`fully_shard`
on each transformer block, then the root), for models that do not fit one device.
On the grad_accum micro-steps before the last, gradients only accumulate locally (DDP's
`no_sync`, FSDP2's `set_requires_gradient_sync(False)`, as nanoGPT and litgpt do): the
average over ranks is the same, with one all-reduce per step instead of grad_accum.
NCCL on CUDA, gloo on a CPU. Only rank 0 logs, saves and writes checkpoints.

Several nodes: each runs `python -m stages.pretrain` with the same params, which starts
torchrun with a static rendezvous at `rdzv_endpoint` (hosted by node 0), so global rank 0
is on node 0 and ranks are node_rank * gpus + local rank. A torchrun started by hand (the
Slurm recipe in the README) is taken as it is, once its world size is gpus * nodes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from stages.common.errors import ParamsError, PipelineError
from stages.pretrain.config import PretrainParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ


def node_rank(cfg: PretrainParams) -> int:
    """This node's rank: `node_rank` itself, or read from the environment variable it names."""
    if isinstance(cfg.node_rank, int):
        return cfg.node_rank
    raw = os.environ.get(cfg.node_rank)
    if raw is None:
        raise ParamsError(
            f"pretrain.node_rank: names the environment variable {cfg.node_rank}, which is not set on this "
            f"node; set it to this node's rank (0..{cfg.nodes - 1}), or give node_rank as a number"
        )
    if not raw.strip().isdigit() or not 0 <= int(raw) < cfg.nodes:
        raise ParamsError(
            f"pretrain.node_rank: ${cfg.node_rank} is {raw!r}, not a rank in 0..{cfg.nodes - 1} "
            f"(pretrain.nodes is {cfg.nodes}); set it to this node's rank"
        )
    return int(raw)


def torchrun_command(cfg: PretrainParams, target: Sequence[str] = ("-m", "stages.pretrain")) -> list[str]:
    """The torchrun command line that runs `target` as this node's processes: the stage (`-m
    stages.pretrain`), or a script and its arguments."""
    cmd = [sys.executable, "-m", "torch.distributed.run"]  # what `torchrun` runs, without relying on PATH
    if cfg.nodes == 1:
        cmd.append("--standalone")
    else:
        # static: node 0 hosts the store and holds global rank 0 (the one that writes the outputs);
        # a node that does not arrive fails the job instead of silently shrinking it.
        cmd += [
            f"--nnodes={cfg.nodes}",
            f"--node-rank={node_rank(cfg)}",
            "--rdzv-backend=static",
            f"--rdzv-endpoint={cfg.rdzv_endpoint}",
            f"--rdzv-id={cfg.rdzv_id}",
        ]
    return [*cmd, f"--nproc-per-node={cfg.gpus}", *target]


def relaunch(cfg: PretrainParams) -> int:
    """Run `python -m stages.pretrain` again as this node's `gpus` processes under torchrun; its exit status."""
    cmd = torchrun_command(cfg)
    log.info("pretrain: %d process(es) on %d node(s): %s", cfg.gpus, cfg.nodes, " ".join(cmd[1:]))
    return subprocess.run(cmd).returncode


def init(cfg: PretrainParams, device: str) -> World:
    """Join the process group of this torchrun job (a no-op for one process)."""
    import torch
    import torch.distributed as dist

    gpus, want = cfg.gpus, cfg.processes
    if want == 1:
        return World()
    if not under_torchrun():
        raise PipelineError(
            f"pretrain.gpus is {gpus} and nodes {cfg.nodes}: that runs under torchrun; start it as "
            "python -m stages.pretrain (it relaunches itself), or set both to 1"
        )
    size, rank, local = (int(os.environ[k]) for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))
    if size != want:
        raise PipelineError(
            f"pretrain.gpus x nodes is {gpus} x {cfg.nodes} = {want} but torchrun started {size} processes; "
            "make torchrun's --nproc-per-node and --nnodes equal to gpus and nodes"
        )
    if device == "cuda":
        if torch.cuda.device_count() < gpus:
            raise PipelineError(
                f"pretrain.gpus is {gpus} but {torch.cuda.device_count()} CUDA devices are visible; "
                "lower pretrain.gpus"
            )
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    if rank != 0:  # one log and one progress bar, from rank 0
        logging.getLogger().setLevel(logging.WARNING)
        os.environ["PIPELINE_NO_PROGRESS"] = "1"
    return World(rank, size, local)


def wrap(model, parallel: str, device: str, world: World):
    """The model that training calls: DDP- or FSDP2-wrapped for several processes, else itself."""
    if world.size == 1:
        return model
    if parallel == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[world.local_rank] if device == "cuda" else None)
    from torch.distributed.fsdp import fully_shard

    # transformers names its repeated blocks in _no_split_modules: one FSDP unit each.
    blocks = set(getattr(model, "_no_split_modules", None) or ())
    for module in model.modules():
        if type(module).__name__ in blocks:
            fully_shard(module)
    fully_shard(model)
    return model


def no_sync(model, world: World) -> Callable[[], AbstractContextManager] | None:
    """A context for the micro-steps before the last: their backward leaves gradients unreduced.

    DDP's `no_sync` and FSDP2's `set_requires_gradient_sync(False)`; None for one process."""
    if world.size == 1:
        return None
    if hasattr(model, "no_sync"):
        return model.no_sync

    @contextmanager
    def unsynced():
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)

    return unsynced


def unwrap(model):
    """The transformers model inside a DDP wrapper (FSDP2 shards in place and keeps the module)."""
    return getattr(model, "module", model)


def mean(value: float, world: World) -> float:
    """The mean of `value` over all ranks (each rank's loss is over its own rows)."""
    if world.size == 1:
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / world.size


def barrier(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()


def close() -> None:
    """Leave the process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

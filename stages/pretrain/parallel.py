"""Training on several processes: `pretrain.gpus > 1` runs the stage again under torchrun.

Every rank builds the same model from the same seed and draws the same global batch,
keeping only its own rows (loop.Batches), so the run follows the single-process run with
the same global batch. `parallel: ddp` replicates the model and averages gradients;
`parallel: fsdp` shards weights, gradients and optimizer state with FSDP2 (`fully_shard`
on each transformer block, then the root), for models that do not fit one device.
NCCL on CUDA, gloo on a CPU. Only rank 0 logs, saves and writes checkpoints.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

from stages.common.errors import PipelineError

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


def relaunch(gpus: int) -> int:
    """Run `python -m stages.pretrain` again as `gpus` processes under torchrun; its exit status."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",  # what the `torchrun` script runs, without relying on PATH
        "--standalone",
        f"--nproc_per_node={gpus}",
        "-m",
        "stages.pretrain",
    ]
    log.info("pretrain.gpus = %d: %s", gpus, " ".join(cmd[1:]))
    return subprocess.run(cmd).returncode


def init(gpus: int, device: str) -> World:
    """Join the process group of this torchrun job (a no-op for one process)."""
    import torch
    import torch.distributed as dist

    if gpus == 1:
        return World()
    if not under_torchrun():
        raise PipelineError(
            f"pretrain.gpus is {gpus}: that runs under torchrun; start it as python -m stages.pretrain "
            "(it relaunches itself), or set gpus to 1"
        )
    size, rank, local = (int(os.environ[k]) for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))
    if size != gpus:
        raise PipelineError(f"pretrain.gpus is {gpus} but torchrun started {size} processes; make them equal")
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

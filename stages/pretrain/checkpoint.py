"""Checkpoints for resuming: weights (safetensors), optimizer + torch RNG (tensors only), state (JSON).

Loading uses torch.load(weights_only=True), which refuses anything but tensors and plain
containers, so a checkpoint can never run code. A checkpoint is used only when its
fingerprint (params, seed, data sizes, starting weights) matches the current run;
otherwise training starts over rather than continuing a different experiment.

Weights and optimizer state go through torch.distributed.checkpoint's full-state-dict
helpers, which gather FSDP2 shards (every rank calls them; rank 0 writes) and work the
same on one process and under DDP, so a checkpoint does not depend on the process count.
The folder is written with atomic_dir: a kill leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from stages.common.io import atomic_dir, read_json, restore_dir
from stages.pretrain.parallel import World, barrier, unwrap

log = logging.getLogger(__name__)


def fingerprint(params: dict[str, Any], seed: int, meta: dict[str, Any], init: str = "scratch") -> str:
    """What a checkpoint must match to be resumed: params, seed, data sizes, start weights, this stage's code."""
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        code.update(path.read_bytes())
    blob = json.dumps(
        {
            "params": params,
            "seed": seed,
            "n_tokens": meta.get("n_tokens"),
            "init": init,
            "code": code.hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _aliases(model) -> dict[str, str]:
    """Tied weights: each extra name of a shared parameter -> the first name (safetensors stores one)."""
    first: dict[int, str] = {}
    alias = {}
    for name, p in unwrap(model).named_parameters(remove_duplicate=False):
        if id(p) in first:
            alias[name] = first[id(p)]
        else:
            first[id(p)] = name
    return alias


def _full_state(model, opt) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model and optimizer state, whole and on the CPU (a collective under FSDP)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=opts), get_optimizer_state_dict(model, opt, options=opts)


def save_checkpoint(
    ckpt_dir: Path,
    model,
    opt,
    batches: dict[str, Any],
    step: int,
    tokens_seen: int,
    fp: str,
    world: World,
    finished: bool = False,
) -> None:
    """Write the whole resumable state of step `step` atomically into `ckpt_dir` (rank 0 writes).

    `finished` marks the checkpoint of a completed run, which a rerun does not resume.
    """
    import torch
    from safetensors.torch import save_file

    weights, optim = _full_state(model, opt)
    if world.main:
        for name in _aliases(model):
            weights.pop(name, None)
        with atomic_dir(ckpt_dir) as tmp:
            save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
            rng = batches["train"].rng_state()
            extra = {"optimizer": optim, "torch_rng": torch.get_rng_state(), "mask_gen": rng["mask_gen"]}
            torch.save(extra, tmp / "optimizer.pt")
            state = {
                "step": step,
                "tokens_seen": tokens_seen,
                "fingerprint": fp,
                "finished": finished,
                "numpy_rng": rng["numpy"],
            }
            (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")
    barrier(world)  # nobody reads or rewrites the folder before it is in place


def clear_partial(ckpt_dir: Path) -> None:
    """Remove the temporary folders a killed save left beside `ckpt_dir`; the checkpoint itself is whole."""
    restore_dir(ckpt_dir)
    for tmp in ckpt_dir.parent.glob(f".{ckpt_dir.name}.tmp-*"):
        log.info("removing %s, left by a run killed while saving", tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def load_checkpoint(ckpt_dir: Path, model, opt, batches: dict[str, Any], fp: str) -> tuple[int, int]:
    """Restore a matching checkpoint on every rank; returns (step, tokens_seen), or (0, 0) to start fresh."""
    import torch
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    if not (ckpt_dir / "state.json").exists():
        return 0, 0
    state = read_json(ckpt_dir / "state.json")
    if state.get("fingerprint") != fp:
        log.warning("%s: written for other params, data or code; starting from step 0", ckpt_dir)
        return 0, 0
    if state.get("finished"):
        log.info("%s: holds a finished run; training again from step 0", ckpt_dir)
        return 0, 0
    weights = load_file(str(ckpt_dir / "model.safetensors"))
    for name, target in _aliases(model).items():
        weights[name] = weights[target]
    extra = torch.load(ckpt_dir / "optimizer.pt", weights_only=True)
    opts = StateDictOptions(full_state_dict=True)  # every rank reads the file and keeps its shard
    set_model_state_dict(model, weights, options=opts)
    set_optimizer_state_dict(model, opt, extra["optimizer"], options=opts)
    torch.set_rng_state(extra["torch_rng"])
    batches["train"].set_rng_state({"numpy": state["numpy_rng"], "mask_gen": extra["mask_gen"]})
    log.info("resumed from %s at step %d", ckpt_dir, state["step"])
    return int(state["step"]), int(state["tokens_seen"])

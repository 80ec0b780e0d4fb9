"""Checkpoints for resuming: one TrainState (stages/common/optim.py) saved and loaded whole.

The folder holds the weights (safetensors), the optimizer state and the torch generators
(tensors only, optimizer.pt) and the step, token count and numpy generator (state.json).

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

from stages.common import lm_train, optim, tokens
from stages.common.io import atomic_dir, read_json, restore_dir
from stages.common.optim import TrainState
from stages.pretrain.parallel import World, barrier, unwrap

log = logging.getLogger(__name__)


def fingerprint(params: dict[str, Any], seed: int, meta: dict[str, Any], init: str = "scratch") -> str:
    """What a checkpoint must match to be resumed: params, seed, data sizes, start weights, the
    code that trains (this stage's and the shared training core it runs)."""
    code = hashlib.sha256()
    shared = [Path(m.__file__) for m in (lm_train, optim, tokens)]
    for path in [*sorted(Path(__file__).parent.glob("*.py")), *shared]:
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


def save_checkpoint(ckpt_dir: Path, state: TrainState, fp: str, world: World, finished: bool = False) -> None:
    """Write `state` atomically into `ckpt_dir` (every rank calls this; rank 0 writes).

    `finished` marks the checkpoint of a completed run, which a rerun does not resume.
    """
    import torch
    from safetensors.torch import save_file

    weights, optim_state = _full_state(state.model, state.optimizer)
    if world.main:
        for name in _aliases(state.model):
            weights.pop(name, None)
        gens = state.generators()
        with atomic_dir(ckpt_dir) as tmp:
            save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
            tensors = {"optimizer": optim_state, "torch_rng": gens["torch"], "mask_gen": gens["mask_gen"]}
            torch.save(tensors, tmp / "optimizer.pt")
            meta = {
                "step": state.step,
                "tokens_seen": state.tokens_seen,
                "fingerprint": fp,
                "finished": finished,
                "numpy_rng": gens["numpy"],
            }
            (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    barrier(world)  # nobody reads or rewrites the folder before it is in place


def clear_partial(ckpt_dir: Path) -> None:
    """Remove the temporary folders a killed save left beside `ckpt_dir`; the checkpoint itself is whole."""
    restore_dir(ckpt_dir)
    for tmp in ckpt_dir.parent.glob(f".{ckpt_dir.name}.tmp-*"):
        log.info("removing %s, left by a run killed while saving", tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def load_checkpoint(ckpt_dir: Path, state: TrainState, fp: str) -> bool:
    """Restore a matching, unfinished checkpoint into `state` on every rank; False (and `state`
    untouched) when there is none, so training starts at step 0."""
    import torch
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    if not (ckpt_dir / "state.json").exists():
        return False
    meta = read_json(ckpt_dir / "state.json")
    if meta.get("fingerprint") != fp:
        log.warning("%s: written for other params, data or code; starting from step 0", ckpt_dir)
        return False
    if meta.get("finished"):
        log.info("%s: holds a finished run; training again from step 0", ckpt_dir)
        return False
    weights = load_file(str(ckpt_dir / "model.safetensors"))
    for name, target in _aliases(state.model).items():
        weights[name] = weights[target]
    tensors = torch.load(ckpt_dir / "optimizer.pt", weights_only=True)
    opts = StateDictOptions(full_state_dict=True)  # every rank reads the file and keeps its shard
    set_model_state_dict(state.model, weights, options=opts)
    set_optimizer_state_dict(state.model, state.optimizer, tensors["optimizer"], options=opts)
    state.set_generators(
        {"torch": tensors["torch_rng"], "numpy": meta["numpy_rng"], "mask_gen": tensors["mask_gen"]}
    )
    state.step, state.tokens_seen = int(meta["step"]), int(meta["tokens_seen"])
    log.info("resumed from %s at step %d", ckpt_dir, state.step)
    return True

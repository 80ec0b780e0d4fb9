"""Checkpoints for resuming: weights (safetensors), optimizer + torch RNG (tensors only), state (JSON).

Loading uses torch.load(weights_only=True), which refuses anything but tensors and plain
containers, so a checkpoint can never run code. A checkpoint is used only when its
fingerprint (params, seed, data sizes) matches the current run; otherwise training
starts over rather than continuing a different experiment.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from stages.common.io import atomic_dir, read_json

log = logging.getLogger(__name__)


def fingerprint(params: dict[str, Any], seed: int, meta: dict[str, Any]) -> str:
    """What a checkpoint must match to be resumed: params, seed, data sizes and this stage's code."""
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        code.update(path.read_bytes())
    blob = json.dumps(
        {"params": params, "seed": seed, "n_tokens": meta.get("n_tokens"), "code": code.hexdigest()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_checkpoint(
    ckpt_dir: Path,
    model,
    opt,
    batches: dict[str, Any],
    step: int,
    tokens_seen: int,
    fp: str,
    finished: bool = False,
) -> None:
    """Write the whole resumable state of step `step` atomically into `ckpt_dir`.

    `finished` marks the checkpoint of a completed run, which a rerun does not resume.
    """
    import torch
    from safetensors.torch import save_model

    with atomic_dir(ckpt_dir) as tmp:
        save_model(model, str(tmp / "model.safetensors"))  # save_model copes with tied weights
        extra = {
            "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "mask_gen": batches["train"].mask_gen.get_state(),
        }
        torch.save(extra, tmp / "optimizer.pt")
        state = {
            "step": step,
            "tokens_seen": tokens_seen,
            "fingerprint": fp,
            "finished": finished,
            "numpy_rng": batches["train"].rng.bit_generator.state,
        }
        (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")


def load_checkpoint(ckpt_dir: Path, model, opt, batches: dict[str, Any], fp: str) -> tuple[int, int]:
    """Restore a matching checkpoint; returns (step, tokens_seen), or (0, 0) to start fresh."""
    import torch
    from safetensors.torch import load_model

    if not (ckpt_dir / "state.json").exists():
        return 0, 0
    state = read_json(ckpt_dir / "state.json")
    if state.get("fingerprint") != fp:
        log.warning("%s: written for other params, data or code; starting from step 0", ckpt_dir)
        return 0, 0
    if state.get("finished"):
        log.info("%s: holds a finished run; training again from step 0", ckpt_dir)
        return 0, 0
    load_model(model, str(ckpt_dir / "model.safetensors"))
    extra = torch.load(ckpt_dir / "optimizer.pt", weights_only=True)
    opt.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["torch_rng"])
    batches["train"].mask_gen.set_state(extra["mask_gen"])
    batches["train"].rng.bit_generator.state = state["numpy_rng"]
    log.info("resumed from %s at step %d", ckpt_dir, state["step"])
    return int(state["step"]), int(state["tokens_seen"])

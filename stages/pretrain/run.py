"""The pretrain stage: build a model from params, train it on data/tokens, save it.

    python -m stages.pretrain

Reads data/tokens/ and data/tokenizer/; writes models/pretrain/ (loads with
AutoModelForCausalLM or AutoModelForMaskedLM, and AutoTokenizer), metrics/pretrain.json,
curves under metrics/curves/pretrain/, and, when train.checkpoint_every > 0,
checkpoints in models/pretrain_ckpt/ that a rerun resumes from.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.init_from import fingerprint as init_fingerprint
from stages.common.io import atomic_dir, write_metrics
from stages.common.lm_train import Batches, LmObjective, StepSettings
from stages.common.optim import PRETRAIN_BETAS, TrainState, cosine_schedule, make_optimizer
from stages.common.params import load_section, load_seed
from stages.common.runtime import keep_freed_memory, pick_device, pick_precision, seed_everything
from stages.common.tokens import read_meta
from stages.pretrain import card, parallel
from stages.pretrain.checkpoint import clear_partial, fingerprint, load_checkpoint, save_checkpoint
from stages.pretrain.config import PretrainParams
from stages.pretrain.data import objective, open_tokens
from stages.pretrain.flops import measure_peak_flops, train_flops_per_token
from stages.pretrain.loop import History, Run, check_epochs, train
from stages.pretrain.model import compiled, count_params, initial_model, matmul_params
from stages.pretrain.moe import resolve_impl, use_megablocks
from stages.pretrain.parallel import World

log = logging.getLogger(__name__)

TOKENS_DIR = Path("data/tokens")
TOKENIZER_DIR = Path("data/tokenizer")
MODEL_DIR = Path("models/pretrain")
CKPT_DIR = Path("models/pretrain_ckpt")
METRICS_FILE = Path("metrics/pretrain.json")


def pretrain(
    cfg: PretrainParams,
    seed: int,
    tokens_dir: Path,
    tokenizer_dir: Path,
    out_dir: Path,
    ckpt_dir: Path | None = None,
    live: Any = None,
    open_curves: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Train and save; returns the metrics dict. Paths are arguments so tests can use tmp dirs.

    `open_curves(start_step)` opens the dvclive logger once the resume step is known, so a
    resumed run continues its curves instead of starting them again.
    """
    import torch  # noqa: F401  (before seed_everything, which seeds torch once it is imported)

    t_start = time.perf_counter()
    m, t = cfg.model, cfg.train
    meta = read_meta(tokens_dir)  # read first: a bad vocab or missing mask id fails before any work
    device = pick_device(cfg.device)
    precision = pick_precision(t.precision, device)
    tokens = {s: open_tokens(tokens_dir, s, meta, m.context_length) for s in ("train", "valid")}
    world = parallel.init(cfg, device)
    seed_everything(seed)
    model, built = _build(cfg, meta, tokenizer_dir, out_dir, device, precision, world)
    how = StepSettings(t.batch_size, t.grad_accum, t.grad_clip, device, precision)
    tokens_per_step = t.batch_size * t.grad_accum * m.context_length * world.size
    total = t.total_steps(tokens_per_step)
    if world.main:
        check_epochs(total, tokens_per_step, int(tokens["train"].size), t.warn_epochs)
    state = TrainState(
        model,
        make_optimizer(model, t.lr, t.weight_decay, PRETRAIN_BETAS, fused=device in ("cpu", "cuda")),
        cosine_schedule(t.lr, t.min_lr, t.warmup_steps, total),
        batches=_batches(tokens["train"], seed, objective(m, meta), world, prefetch=device == "cuda"),
    )
    # Where a node joins does not change what it trains: a rerun on other hosts resumes.
    launch = ("node_rank", "rdzv_endpoint", "rdzv_id")
    trained = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in launch}
    fp = fingerprint(trained, seed, meta, init_fingerprint(cfg.init_from))
    if ckpt_dir is not None and t.checkpoint_every:
        if world.main:
            clear_partial(ckpt_dir)
        parallel.barrier(world)  # every rank reads the folder as rank 0 left it
        load_checkpoint(ckpt_dir, state, fp)
    seen_before = state.tokens_seen
    if open_curves is not None and world.main:
        live = open_curves(state.step)
    log.info("%s %s: %.2fM parameters, %d steps of %d tokens on %s x %d (%s)", m.objective, type(parallel.unwrap(model)).__name__,
             built["params"]["total"] / 1e6, total, tokens_per_step, device, world.size, precision)  # fmt: skip
    run = Run(
        cfg=cfg,
        how=how,
        valid=_batches(tokens["valid"], seed, objective(m, meta), world, prefetch=False),
        world=world,
        seed=seed,
        total_steps=total,
        flops_per_token=built["flops_per_token"],
        peak_flops=built["peak_flops"],
        live=live,
        on_step=_checkpoint_every(ckpt_dir, t.checkpoint_every, total, fp, world),
    )
    t_train = time.perf_counter()
    hist = train(state, run, forward=compiled(model, t))
    train_seconds = time.perf_counter() - t_train
    if ckpt_dir is not None:
        # Always leave the declared out (also with checkpoints off), marked finished so no rerun resumes it.
        save_checkpoint(ckpt_dir, state, fp, world, finished=True)
    save_model(model, tokenizer_dir, out_dir, m.context_length, world)
    # MFU of the whole job: global tokens/s against the peak of all its devices.
    peak_all = built["peak_flops"] * world.size
    metrics = _metrics(
        hist, seen_before, built["params"], built["flops_per_token"], peak_all, precision, device,
        train_seconds, t_start,
    )  # fmt: skip
    moe_impl = built["moe_impl"] if m.moe.n_experts else None
    return {**metrics, "processes": world.size, "moe_impl": moe_impl}


def _build(
    cfg: PretrainParams, meta: dict[str, Any], tokenizer_dir: Path, out_dir: Path, device: str,
    precision: str, world: World,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The model training steps (wrapped for DDP/FSDP) and what was measured on it: params,
    flops_per_token, peak_flops of one device, moe_impl."""
    m = cfg.model
    model = initial_model(cfg, meta, tokenizer_dir, out_dir).to(device)
    moe_impl = resolve_impl(m.moe.impl, device, m.moe.n_experts)
    if moe_impl == "megablocks":
        log.info("megablocks runs the experts of %d MoE blocks", use_megablocks(model, precision))
    built = {
        "params": count_params(model),
        "flops_per_token": train_flops_per_token(
            matmul_params(model, m), m.n_layers, m.hidden_size, m.context_length
        ),
        # After the model is built: the measurement draws from torch's generator.
        "peak_flops": measure_peak_flops(device, precision),
        "moe_impl": moe_impl,
    }
    # DDP/FSDP wrap before the optimizer: FSDP2 turns the parameters into shards.
    return parallel.wrap(model, cfg.parallel, device, world), built


def _batches(tokens, seed: int, obj: LmObjective, world: World, prefetch: bool) -> Batches:
    """Seeded batches of one split; every rank seeds the same generators and keeps its own rows."""
    import torch

    gens = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    return Batches(tokens, *gens, obj, rank=world.rank, ranks=world.size, prefetch=prefetch)


def _checkpoint_every(ckpt_dir: Path | None, every: int, total: int, fp: str, world: World):
    """The loop's per-step callback that saves the TrainState every `every` steps, or None."""
    if ckpt_dir is None or every <= 0:
        return None

    def on_step(state: TrainState) -> None:
        if state.step % every == 0 and state.step < total:
            save_checkpoint(ckpt_dir, state, fp, world)

    return on_step


def save_model(
    model, tokenizer_dir: Path, out_dir: Path, context_length: int, world: World | None = None
) -> None:
    """Weights as safetensors plus the tokenizer, so AutoModelFor*/AutoTokenizer load the folder.

    The weights are the full state dict (gathered from FSDP shards; every rank calls this), and
    rank 0 writes them.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from transformers import AutoTokenizer

    world = world or World()
    weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if world.main:
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        tok.model_max_length = context_length
        with atomic_dir(out_dir) as tmp:
            parallel.unwrap(model).save_pretrained(str(tmp), state_dict=weights, safe_serialization=True)
            tok.save_pretrained(str(tmp))
    parallel.barrier(world)


def _metrics(
    hist: History,
    seen_before: int,
    n_params: dict[str, int],
    flops_per_token: float,
    peak: float,
    precision: str,
    device: str,
    train_seconds: float,
    t_start: float,
) -> dict[str, Any]:
    # The first steps pay for warm-up (allocations, kernel selection): leave them out of speed.
    steady = hist.step_seconds[min(2, len(hist.step_seconds) - 1) :]
    tokens_per_step = hist.tokens_seen / len(hist.step_seconds)
    tok_s = tokens_per_step * len(steady) / sum(steady)
    val = hist.val_loss[-1][1]
    tail = hist.train_loss[-10:]
    return {
        "train_loss": round(hist.train_loss[-1], 4),
        "train_loss_last10": round(sum(tail) / len(tail), 4),
        "val_loss": round(val, 4),
        "val_ppl": round(math.exp(min(val, 50.0)), 3),
        "tokens_seen": seen_before + hist.tokens_seen,
        "tokens_per_s": round(tok_s, 1),
        "mfu": round(tok_s * flops_per_token / peak, 4),
        "mfu_peak": f"measured {device} {precision} matmul, {peak / 1e9:.1f} GFLOP/s",
        "mfu_peak_gflop_s": round(peak / 1e9, 1),  # the same figure as a number, for dvc exp show
        "flops_per_token": flops_per_token,
        "params": n_params["total"],
        "params_non_embedding": n_params["non_embedding"],
        "precision": precision,
        "device": device,
        "steps": len(hist.train_loss),
        "train_seconds": round(train_seconds, 2),
        "wall_seconds": round(time.perf_counter() - t_start, 2),
    }


def keep_curve_rows(plots_dir: Path, last_step: int) -> None:
    """Drop the rows logged after `last_step` from dvclive's .tsv curves.

    A killed run logged steps past its last checkpoint; the resumed run logs them again.
    """
    from stages.common.io import atomic_file

    for tsv in sorted(plots_dir.rglob("*.tsv")):
        header, *rows = tsv.read_text(encoding="utf-8").splitlines()
        col = header.split("\t").index("step")
        kept = [r for r in rows if int(r.split("\t")[col]) <= last_step]
        with atomic_file(tsv) as f:
            f.write("\n".join([header, *kept]) + "\n")


def open_curves(start_step: int):
    """The pretrain dvclive logger: fresh from step 0, or continuing the curves of a resumed run."""
    from stages.common.live import curves_dir, open_live

    if start_step > 0:
        keep_curve_rows(curves_dir("pretrain") / "plots" / "metrics", start_step)
    return open_live("pretrain", resume=start_step > 0)


def main() -> None:
    cfg = load_section("pretrain")
    seed = load_seed()
    if cfg.processes > 1 and not parallel.under_torchrun():
        sys.exit(parallel.relaunch(cfg))
    keep_freed_memory()
    metrics = pretrain(cfg, seed, TOKENS_DIR, TOKENIZER_DIR, MODEL_DIR, CKPT_DIR, open_curves=open_curves)
    parallel.close()
    if int(os.environ.get("RANK", "0")) != 0:  # rank 0 writes the metrics
        return
    write_metrics(METRICS_FILE, metrics)
    card.write(cfg, seed, metrics, TOKENS_DIR, MODEL_DIR)
    log.info(
        "val loss %.4f (ppl %.2f), %.0f tokens/s, MFU %.1f%%",
        metrics["val_loss"],
        metrics["val_ppl"],
        metrics["tokens_per_s"],
        100 * metrics["mfu"],
    )

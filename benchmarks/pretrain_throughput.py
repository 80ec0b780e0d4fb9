"""Training throughput of the pretrain stage's own step, against a measured matmul peak.

    python benchmarks/pretrain_throughput.py [--steps 10] [--vocab 65] [--precisions fp32,bf16]

For each shape (layers x heads x width, context, batch) and precision it times the real
`stages.pretrain.loop.train_step` (forward, backward, clipping, AdamW) on random tokens,
and prints tokens/s, achieved GFLOP/s (PaLM FLOPs per token) and the share of the best
large-matmul FLOP/s measured in the same dtype on the same device. The default vocabulary
(65) matches nanoGPT's shakespeare_char, whose fp32 figures are the reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.params import parse  # noqa: E402
from stages.pretrain.config import PretrainParams  # noqa: E402
from stages.pretrain.flops import measure_peak_flops, train_flops_per_token  # noqa: E402
from stages.pretrain.loop import Batches, Run, make_optimizer, train_step  # noqa: E402
from stages.pretrain.model import build_model, matmul_params  # noqa: E402

# (layers, heads, width, context, batch, nanoGPT fp32 tokens/s on the 2-core reference CPU)
SHAPES = ((4, 4, 128, 64, 12, 25_200), (6, 6, 384, 256, 16, 2_600))


def bench(shape, vocab: int, precision: str, device: str, steps: int) -> dict:
    import torch

    layers, heads, width, ctx, batch, _ = shape
    # A gated MLP of 8/3 x width has the weights of nanoGPT's 4 x width plain MLP.
    ffn = int(round(8 * width / 3 / 8)) * 8
    cfg = parse(
        PretrainParams,
        {
            "device": device,
            "model": {
                "n_layers": layers,
                "n_heads": heads,
                "n_kv_heads": heads,
                "hidden_size": width,
                "ffn_size": ffn,
                "context_length": ctx,
            },
            "train": {"batch_size": batch, "precision": precision, "warmup_steps": 0},
        },
        "bench",
    )
    meta = {"vocab_size": vocab, "eos_id": 0, "pad_id": 0, "mask_id": 0, "n_tokens": {}}
    torch.manual_seed(0)
    model = build_model(cfg.model, meta).to(device)
    opt = make_optimizer(model, cfg.train, device)
    tokens = np.random.default_rng(0).integers(0, vocab, size=200_000).astype(np.uint16)
    src = Batches(tokens, np.random.default_rng(0), torch.Generator().manual_seed(0), cfg.model, meta)
    fpt = train_flops_per_token(matmul_params(model, cfg.model), layers, width, ctx)
    run = Run(cfg, src, src, device, precision, 0, steps + 3, fpt, 1.0)
    for s in range(3):  # warm-up: allocator, kernel choice
        train_step(model, opt, run, s)
    t = time.perf_counter()
    for s in range(steps):
        train_step(model, opt, run, s)
    if device == "cuda":
        torch.cuda.synchronize()
    tok_s = steps * batch * ctx / (time.perf_counter() - t)
    return {"tok_s": tok_s, "gflops": tok_s * fpt / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--vocab", type=int, default=65)
    # bf16 autocast on a CPU without bf16 units is emulated and many times slower than fp32.
    ap.add_argument(
        "--precisions", default=None, help="default: fp32,bf16 where the CPU has bf16 units, else fp32"
    )
    args = ap.parse_args()
    import torch

    from stages.common.runtime import cpu_has_bf16

    if args.precisions is None:
        args.precisions = "fp32,bf16" if cpu_has_bf16() or torch.cuda.is_available() else "fp32"

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, vocab {args.vocab}")
    for device in devices:
        for prec in args.precisions.split(","):
            peak = measure_peak_flops(device, prec, 2048 if device == "cpu" else None)
            print(f"\n{device} {prec}: measured matmul peak {peak / 1e9:.1f} GFLOP/s")
            for shape in SHAPES:
                r = bench(shape, args.vocab, prec, device, args.steps)
                name = f"{shape[0]}x{shape[1]}x{shape[2]} ctx{shape[3]} batch{shape[4]}"
                ref = f" ({r['tok_s'] / shape[5]:.2f}x nanoGPT fp32 {shape[5]})" if device == "cpu" else ""
                print(
                    f"  {name:28s} {r['tok_s']:10.0f} tok/s{ref}  {r['gflops']:7.1f} GFLOP/s  "
                    f"{100 * r['gflops'] * 1e9 / peak:5.1f}% of peak"
                )


if __name__ == "__main__":
    main()

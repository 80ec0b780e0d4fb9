"""Training throughput of the pretrain stage's own step, against nanoGPT and a matmul peak.

    python benchmarks/pretrain_throughput.py [--steps 20] [--vocab 65] [--precisions fp32,bf16]

For each shape (layers x heads x width, context, batch) and precision it times the real
`stages.common.lm_train.train_step` (forward, backward, clipping, AdamW) on random tokens,
and prints the median tokens/s over the steps, achieved GFLOP/s (PaLM FLOPs per token) and
the share of the best large-matmul FLOP/s measured in the same dtype on the same device.
Beside it, in the same process, nanoGPT's GPT and step (benchmarks/nanogpt_ref.py) in
fp32, as nanoGPT's train.py runs on a CPU. The runs take turns step by step, and the figure
to read is the median over steps of nanoGPT's step time over ours in the same turn (with
its quartiles): the machine's noise falls on both sides of each ratio alike. The default
vocabulary (65) is nanoGPT's shakespeare_char.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.lm_train import Batches, StepSettings, train_step  # noqa: E402
from stages.common.optim import PRETRAIN_BETAS, TrainState, cosine_schedule, make_optimizer  # noqa: E402
from stages.common.params import parse  # noqa: E402
from stages.pretrain.config import PretrainParams  # noqa: E402
from stages.pretrain.data import objective  # noqa: E402
from stages.pretrain.flops import measure_peak_flops, train_flops_per_token  # noqa: E402
from stages.pretrain.model import build_model, compiled, matmul_params  # noqa: E402

# (layers, heads, width, context, batch, nanoGPT fp32 tokens/s on the reference 2-core CPU)
SHAPES = ((4, 4, 128, 64, 12, 25_200), (6, 6, 384, 256, 16, 2_600))


def make_nanogpt(shape, vocab: int, device: str):
    """nanoGPT's model and step on the same kind of random batches; fp32, as on a CPU."""
    import nanogpt_ref  # beside this script
    import torch

    layers, heads, width, ctx, batch, _ = shape
    torch.manual_seed(0)
    model, opt = nanogpt_ref.make(vocab, ctx, layers, heads, width, device)
    data = torch.from_numpy(np.random.default_rng(0).integers(0, vocab, size=200_000))
    gen = torch.Generator().manual_seed(0)

    def step(_):
        ix = torch.randint(len(data) - ctx - 1, (batch,), generator=gen)
        x = torch.stack([data[i : i + ctx] for i in ix]).to(device)
        y = torch.stack([data[i + 1 : i + 1 + ctx] for i in ix]).to(device)
        nanogpt_ref.step(model, opt, x, y)

    return step


def make_ours(
    shape, vocab: int, precision: str, device: str, steps: int, compile: bool = False, ffn=None, build=None
):
    """The pretrain stage's own train_step on its own Batches; returns (step, FLOPs per token).
    `build(model_params, meta)` replaces the stage's build_model (benchmarks/pretrain_ablation.py)."""
    import torch

    layers, heads, width, ctx, batch, _ = shape
    # A gated MLP of 8/3 x width has the weights of nanoGPT's 4 x width plain MLP.
    ffn = ffn or int(round(8 * width / 3 / 8)) * 8
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
            "train": {"batch_size": batch, "precision": precision, "warmup_steps": 0, "compile": compile},
        },
        "bench",
    )
    meta = {"vocab_size": vocab, "eos_id": 0, "pad_id": 0, "mask_id": 0, "n_tokens": {}}
    torch.manual_seed(0)
    model = (build or build_model)(cfg.model, meta).to(device)
    t = cfg.train
    tokens = np.random.default_rng(0).integers(0, vocab, size=200_000).astype(np.uint16)
    state = TrainState(
        model,
        make_optimizer(model, t.lr, t.weight_decay, PRETRAIN_BETAS, fused=device in ("cpu", "cuda")),
        cosine_schedule(t.lr, t.min_lr, t.warmup_steps, steps + 3),
        batches=Batches(
            tokens, np.random.default_rng(0), torch.Generator().manual_seed(0), objective(cfg.model, meta)
        ),
    )
    fpt = train_flops_per_token(matmul_params(model, cfg.model), layers, width, ctx)
    runner = compiled(model, t)
    how = StepSettings(t.batch_size, t.grad_accum, t.grad_clip, device, precision)
    return (lambda _: train_step(state, how, runner)), fpt


def interleaved(steppers: dict, steps: int, device: str, first: dict | None = None) -> dict[str, list[float]]:
    """Seconds per step of each stepper, taking turns step by step after 3 warm-up steps each
    (allocator, kernel choice, compilation), so that a slower or busier stretch of the machine
    falls on all of them alike and the per-step ratios compare like with like. `first`, when
    given, receives each stepper's first-step seconds (what compiling costs)."""
    import torch

    for name, step in steppers.items():
        for i in range(3):
            t = time.perf_counter()
            step(i)
            if i == 0 and first is not None:
                first[name] = time.perf_counter() - t
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for i in range(steps):
        for name, step in steppers.items():
            t = time.perf_counter()
            step(3 + i)
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=65)
    # bf16 autocast on a CPU without bf16 units is emulated and many times slower than fp32.
    ap.add_argument(
        "--precisions", default=None, help="default: fp32,bf16 where the CPU has bf16 units, else fp32"
    )
    ap.add_argument("--compile", default="off,on", help="torch.compile settings to time: off, on or both")
    args = ap.parse_args()
    import torch

    from stages.common.runtime import cpu_has_bf16

    if args.precisions is None:
        args.precisions = "fp32,bf16" if cpu_has_bf16() or torch.cuda.is_available() else "fp32"

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, vocab {args.vocab}, median of {args.steps} steps"
    )
    for device in devices:
        peaks = {
            p: measure_peak_flops(device, p, 2048 if device == "cpu" else None)
            for p in args.precisions.split(",")
        }
        print(f"\n{device}: matmul peak " + ", ".join(f"{p} {v / 1e9:.1f} GFLOP/s" for p, v in peaks.items()))
        for shape in SHAPES:
            name = f"{shape[0]}x{shape[1]}x{shape[2]} ctx{shape[3]} batch{shape[4]}"
            tokens = shape[3] * shape[4]
            steppers, fpts = {"nanoGPT": make_nanogpt(shape, args.vocab, device)}, {}
            for prec in peaks:
                for comp in args.compile.split(","):
                    key = f"ours {prec} compile={comp}"
                    steppers[key], fpts[key] = make_ours(
                        shape, args.vocab, prec, device, args.steps, compile=comp == "on"
                    )
            times = interleaved(steppers, args.steps, device)
            ref = tokens / statistics.median(times["nanoGPT"])
            print(f"  {name}: nanoGPT fp32 {ref:,.0f} tok/s (issue's CPU: {shape[5]:,})")
            for key, fpt in fpts.items():
                tok_s = tokens / statistics.median(times[key])
                ratios = [a / b for a, b in zip(times["nanoGPT"], times[key])]
                q1, ratio, q3 = statistics.quantiles(ratios, n=4)
                gflops = tok_s * fpt / 1e9
                peak = peaks[key.split()[1]]
                print(
                    f"    {key:22s} {tok_s:10,.0f} tok/s  {ratio:5.2f}x nanoGPT (quartiles {q1:.2f}-{q3:.2f})  "
                    f"{gflops:7.1f} GFLOP/s  {100 * gflops * 1e9 / peak:5.1f}% of peak"
                )


if __name__ == "__main__":
    main()

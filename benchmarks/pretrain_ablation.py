"""What closes, or does not close, the gap to nanoGPT: variants of our step timed in turns with it.

    python benchmarks/pretrain_ablation.py [--shape 6,6,384,256,16] [--vocab 65] [--steps 12]
        [--variants llama,llama+compile,phi3,phi3+compile,llama+compile+math,llama+autotune] [--profile]

Each variant is the pretrain stage's own train_step (benchmarks/pretrain_throughput.make_ours)
on a model of the same shape: `llama` is the stage's model; `phi3` is Phi-3's block, the same
arithmetic with one fused qkv_proj and one fused gate_up_proj; `+compile` is torch.compile,
`+autotune` its max-autotune-no-cudagraphs mode, `+math` SDPA's math kernel instead of the
flash one. nanoGPT's step (benchmarks/nanogpt_ref.py) takes its turn beside them, and the
ratio printed is the median over turns of nanoGPT's step time over the variant's (quartiles).
`--profile` then prints the top operators of nanoGPT and of our step, eager and compiled
(torch.profiler, 3 steps each, self CPU time). The default profile's shape and vocabulary:
`--shape 4,4,256,256,16 --vocab 8192 --ffn 688 --variants llama,llama+compile`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretrain_throughput import interleaved, make_nanogpt, make_ours  # noqa: E402


def build_phi3(m, meta):
    """Phi-3 with the stage's Llama config values: fused projections, otherwise the same block."""
    from transformers import AutoModelForCausalLM, Phi3Config

    from stages.pretrain.model import build_config

    llama = build_config(m, meta).to_dict()
    keep = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "max_position_embeddings", "tie_word_embeddings", "pad_token_id",
            "bos_token_id", "eos_token_id", "rms_norm_eps")  # fmt: skip
    config = Phi3Config(**{k: llama[k] for k in keep}, attention_dropout=0.0, resid_pdrop=0.0, embd_pdrop=0.0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")


def make_variant(name: str, shape, vocab: int, steps: int, ffn):
    parts = set(name.split("+"))
    build = build_phi3 if "phi3" in parts else None
    if "autotune" in parts:
        build = _autotuned(build)
    step, _ = make_ours(shape, vocab, "fp32", "cpu", steps, compile="compile" in parts, ffn=ffn, build=build)
    if "math" not in parts:
        return step
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def run(i):
        with sdpa_kernel(SDPBackend.MATH):
            step(i)

    return run


def _autotuned(build):
    def make(m, meta):
        import torch

        from stages.pretrain.model import build_model

        model = (build or build_model)(m, meta)
        model.forward = torch.compile(model.forward, mode="max-autotune-no-cudagraphs")
        return model

    return make


def profile(shape, vocab: int, ffn) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    for name, step in (
        ("nanoGPT", make_nanogpt(shape, vocab, "cpu")),
        ("ours eager", make_ours(shape, vocab, "fp32", "cpu", 6, ffn=ffn)[0]),
        ("ours compiled", make_ours(shape, vocab, "fp32", "cpu", 6, compile=True, ffn=ffn)[0]),
    ):
        for i in range(3):
            step(i)
        with torch_profile(activities=[ProfilerActivity.CPU]) as p:
            for i in range(3):
                step(3 + i)
        print(f"\n{name}:")
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="6,6,384,256,16", help="layers,heads,width,context,batch")
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--ffn", type=int, default=None, help="default: 8/3 x width, rounded to 8")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--variants", default="llama,llama+compile,phi3,phi3+compile,llama+compile+math")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    import torch

    shape = (*map(int, args.shape.split(",")), 0)
    tokens = shape[3] * shape[4]
    steppers = {"nanoGPT": make_nanogpt(shape, args.vocab, "cpu")}
    for name in args.variants.split(","):
        steppers[name] = make_variant(name, shape, args.vocab, args.steps, args.ffn)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, shape {args.shape}, vocab {args.vocab}"
    )
    first: dict[str, float] = {}
    times = interleaved(steppers, args.steps, "cpu", first)
    for name, t in times.items():
        ratios = [a / b for a, b in zip(times["nanoGPT"], t)]
        q1, mid, q3 = statistics.quantiles(ratios, n=4)
        print(
            f"  {name:22s} {tokens / statistics.median(t):9,.0f} tok/s  {mid:5.2f}x nanoGPT ({q1:.2f}-{q3:.2f})"
            f"  first step {first[name]:.1f} s"
        )
    if "llama" in times and "llama+compile" in times:
        gain = [a / b for a, b in zip(times["llama"], times["llama+compile"])]
        q1, mid, q3 = statistics.quantiles(gain, n=4)
        print(f"  compile speeds our step up {mid:.2f}x ({q1:.2f}-{q3:.2f})")
    if args.profile:
        profile(shape, args.vocab, args.ffn)


if __name__ == "__main__":
    main()

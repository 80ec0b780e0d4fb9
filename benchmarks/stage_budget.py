"""What pretrain's speed settings save on this machine, on the default model and real data/tokens.

    python benchmarks/stage_budget.py --turns 8

Times, in the same process and taking turns (eager step, compiled step, one evaluation
pass), so a busy stretch of the shared machine falls on all three alike: the stage's own
`train_step` eager and under `torch.compile`, and `loop.evaluate` (eval_batches batches of
valid windows). Prints the medians over the turns, the median per-turn ratios with their
quartiles, what compiling costs (the first compiled step and the first compiled evaluation,
over their eager twins; inductor's cache as it is), and the projected saving of each lever
over params.yaml's budget (the stage's total steps: max_steps, or max_tokens when set;
eval_every) as a share of the stage's train time:
- compile: budget x (eager - compiled step) - compile cost;
- eval cadence: each evaluation pass left out saves one pass (the last one always runs).
`--threads N` sets torch's intra-op threads (default: torch's own choice).

    python benchmarks/stage_budget.py --allocator --turns 8

The allocator lever instead: the stage's compiled step under glibc's own malloc settings
(as they stand after its warm-up) and under `runtime.keep_freed_memory` (no mmap, no trim,
which the torch stages set), taking turns in one process, a few steps a turn; prints the
median step, the process's system CPU seconds and minor page faults per step of each, and
the median per-turn ratio.

    python benchmarks/stage_budget.py --losses 7 [--eager] [--glibc]

Prints the first 7 training losses of a fresh run of the stage's step (compiled as params
say, or `--eager`; under the stages' malloc settings, or glibc's with `--glibc`). Run it
twice and compare: whether a rerun is bit for bit the same.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.lm_train import StepSettings, train_step  # noqa: E402
from stages.common.optim import PRETRAIN_BETAS, TrainState, cosine_schedule, make_optimizer  # noqa: E402
from stages.common.params import load_section, load_seed  # noqa: E402
from stages.common.runtime import pick_precision  # noqa: E402
from stages.common.tokens import read_meta  # noqa: E402
from stages.pretrain.config import PretrainParams  # noqa: E402
from stages.pretrain.data import objective, open_tokens  # noqa: E402
from stages.pretrain.loop import Run, evaluate  # noqa: E402
from stages.pretrain.model import build_model  # noqa: E402
from stages.pretrain.parallel import World  # noqa: E402
from stages.pretrain.run import _batches  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def total_steps(cfg: PretrainParams) -> int:
    """The stage's budget in optimizer steps, as stages/pretrain/run.py sets it for one process."""
    t = cfg.train
    return t.total_steps(t.batch_size * t.grad_accum * cfg.model.context_length)


def trainer(cfg: PretrainParams, meta: dict, tokens: dict, seed: int, compile: bool):
    """(step, evaluate) closures over a fresh default model, as the stage builds it."""
    import torch

    m, t = cfg.model, cfg.train
    precision = pick_precision(t.precision, "cpu")
    torch.manual_seed(seed)
    model = build_model(m, meta)
    obj = objective(m, meta)
    state = TrainState(
        model,
        make_optimizer(model, t.lr, t.weight_decay, PRETRAIN_BETAS, fused=True),
        cosine_schedule(t.lr, t.min_lr, t.warmup_steps, total_steps(cfg)),
        batches=_batches(tokens["train"], seed, obj, World(), prefetch=False),
    )
    how = StepSettings(t.batch_size, t.grad_accum, t.grad_clip, "cpu", precision)
    valid = _batches(tokens["valid"], seed, obj, World(), prefetch=False)
    run = Run(cfg, how, valid, World(), seed, total_steps(cfg), flops_per_token=0.0, peak_flops=1.0)
    forward = torch.compile(model) if compile else model
    return (lambda: train_step(state, how, forward)), (lambda: evaluate(forward, run)), precision


def allocator_turns(step, turns: int, per_turn: int = 4) -> None:
    """Print the step's time, system CPU and page faults with glibc's settings and with freed memory kept."""
    import resource

    from stages.common.runtime import keep_freed_memory

    times: dict[bool, list[float]] = {False: [], True: []}
    sys_s: dict[bool, list[float]] = {False: [], True: []}
    faults: dict[bool, list[float]] = {False: [], True: []}
    for turn in range(turns):
        for keep in (False, True) if turn % 2 == 0 else (True, False):
            if not keep_freed_memory(keep):
                raise SystemExit("the C library is not glibc: keep_freed_memory changes nothing here")
            step()  # the first step after a switch settles the heap
            before = resource.getrusage(resource.RUSAGE_SELF)
            times[keep].append(statistics.median(timed(step) for _ in range(per_turn)))
            after = resource.getrusage(resource.RUSAGE_SELF)
            sys_s[keep].append((after.ru_stime - before.ru_stime) / per_turn)
            faults[keep].append((after.ru_minflt - before.ru_minflt) / per_turn)
    for keep, label in ((False, "glibc's settings"), (True, "freed memory kept")):
        print(
            f"  {label:18s} step {statistics.median(times[keep]):.3f} s, system CPU "
            f"{statistics.median(sys_s[keep]):.3f} s, {statistics.median(faults[keep]):,.0f} minor faults"
        )
    r = [a / b for a, b in zip(times[False], times[True])]
    q1, q2, q3 = statistics.quantiles(r, n=4)
    print(f"  glibc / kept step: {q2:.3f} (quartiles {q1:.3f}-{q3:.3f}), {turns} turns of {per_turn} steps")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--allocator", action="store_true", help="time the allocator lever instead")
    ap.add_argument("--losses", type=int, default=0, help="print the first N losses of a fresh run instead")
    ap.add_argument("--eager", action="store_true", help="with --losses: no torch.compile")
    ap.add_argument("--glibc", action="store_true", help="with --losses: glibc's malloc settings")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_section("pretrain", ROOT / "params.yaml")
    seed, t = load_seed(ROOT / "params.yaml"), cfg.train
    meta = read_meta(ROOT / "data/tokens")
    tokens = {
        s: open_tokens(ROOT / "data/tokens", s, meta, cfg.model.context_length) for s in ("train", "valid")
    }
    if args.losses:
        from stages.common.runtime import keep_freed_memory

        keep_freed_memory(not args.glibc)
        step, _, _ = trainer(cfg, meta, tokens, seed, compile=t.compile and not args.eager)
        print([round(step(), 7) for _ in range(args.losses)])
        return
    if args.allocator:
        step, _, precision = trainer(cfg, meta, tokens, seed, compile=t.compile)
        step()  # compiles
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {precision}, compile {t.compile}"
        )
        allocator_turns(step, args.turns)
        return
    eager_step, eager_eval, precision = trainer(cfg, meta, tokens, seed, compile=False)
    comp_step, comp_eval, _ = trainer(cfg, meta, tokens, seed, compile=True)
    first = {
        "eager step": timed(eager_step),
        "compiled step": timed(comp_step),
        "eager eval": timed(eager_eval),
        "compiled eval": timed(comp_eval),
    }
    for fn in (eager_step, comp_step, eager_step, comp_step):  # past the allocator's warm-up
        fn()
    times: dict[str, list[float]] = {"eager step": [], "compiled step": [], "eval pass": []}
    for _ in range(args.turns):
        times["eager step"].append(timed(eager_step))
        times["compiled step"].append(timed(comp_step))
        times["eval pass"].append(timed(eager_eval))
    med = {k: statistics.median(v) for k, v in times.items()}

    def ratio(a: str, b: str) -> str:
        r = [x / y for x, y in zip(times[a], times[b])]
        q1, q2, q3 = statistics.quantiles(r, n=4)
        return f"{q2:.3f} (quartiles {q1:.3f}-{q3:.3f})"

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {precision}, {args.turns} turns")
    for k, v in med.items():
        print(f"  median {k:14s} {v:7.3f} s")
    print(f"  eager / compiled step: {ratio('eager step', 'compiled step')}")
    print(f"  eval pass / eager step: {ratio('eval pass', 'eager step')}")
    print("  first calls: " + ", ".join(f"{k} {v:.1f} s" for k, v in first.items()))
    budget = total_steps(cfg)
    evals = -(-budget // t.eval_every)
    train_s = budget * med["eager step"] + evals * med["eval pass"]
    cost = first["compiled step"] - first["eager step"] + first["compiled eval"] - first["eager eval"]
    saved = budget * (med["eager step"] - med["compiled step"]) - cost
    print(f"\nprojected over {budget} steps and {evals} evaluations ({train_s:.0f} s eager here):")
    print(
        f"  compile: saves {saved:.0f} s ({100 * saved / train_s:.1f}%), of which compiling costs {cost:.0f} s"
    )
    for every in (100, 200, budget):
        n = -(-budget // every)
        print(
            f"  eval_every {every}: {n} evaluations, saves {(evals - n) * med['eval pass']:.0f} s "
            f"({100 * (evals - n) * med['eval pass'] / train_s:.1f}%)"
        )


if __name__ == "__main__":
    main()

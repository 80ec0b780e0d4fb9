"""What `torch.compile` would buy finetune@ner's training steps, on the default run's model and silver.

    python benchmarks/finetune_compile.py [--steps 25]

Builds the NER stage's model, batches and loss as `stages.finetune.ner.run` does (its `fit` is
swapped for this timing; nothing is trained to the end or written), then times the same
training step (forward, backward, AdamW) eager and under `torch.compile(dynamic=True)`
(length-bucketed batches have many widths), taking turns batch by batch. Prints the first
compiled step (the compile cost), the median step of each, the median per-batch ratio with
its quartiles, and how many compiled steps took over twice the median (recompiles).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.optim import FINETUNE_BETAS, autocast, make_optimizer  # noqa: E402
from stages.common.params import load_section, load_seed  # noqa: E402
from stages.common.runtime import pick_precision  # noqa: E402
from stages.finetune import ner  # noqa: E402
from stages.finetune.train import TrainEnv  # noqa: E402


class _Done(Exception):
    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=25, help="batches timed, each eager and compiled")
    args = ap.parse_args()
    import torch

    @contextlib.contextmanager
    def env(task, cfg, seed):
        yield TrainEnv("cpu", pick_precision(cfg.precision, "cpu"), seed, None)

    def timing(model, strategy, tp, env, **_):
        model.train()
        batches = list(strategy.train_batches(random.Random(0)))[: args.steps + 1]
        opt = make_optimizer(model, tp.lr, tp.weight_decay, FINETUNE_BETAS, None)
        compiled = torch.compile(model, dynamic=True)

        def step(m, batch) -> float:
            t = time.perf_counter()
            with autocast("cpu", env.precision):
                loss = strategy.loss(m, batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return time.perf_counter() - t

        first = step(compiled, batches[0])
        eager, comp = [], []
        for batch in batches[1:]:
            eager.append(step(model, batch))
            comp.append(step(compiled, batch))
        ratios = [e / c for e, c in zip(eager, comp)]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        med = statistics.median(comp)
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {env.precision}, {len(eager)} batches"
        )
        print(f"  first compiled step {first:.1f} s")
        print(f"  median step: eager {statistics.median(eager):.3f} s, compiled {med:.3f} s")
        print(f"  eager / compiled: {q2:.2f} (quartiles {q1:.2f}-{q3:.2f})")
        print(f"  compiled steps over twice the median: {sum(c > 2 * med for c in comp)}")
        raise _Done

    ner.fit, ner.train_env = timing, env
    with contextlib.suppress(_Done):
        ner.run("ner", load_section("finetune"), load_seed())


if __name__ == "__main__":
    main()

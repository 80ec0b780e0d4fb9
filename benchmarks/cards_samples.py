"""What the model cards and the prompted samples add to a run: seconds, medians of repeats.

    python benchmarks/cards_samples.py [--repeat 3]

Run in a repository after `dvc repro` (it reads models/, data/ and metrics/ and writes
nothing): times pretrain's card (build from data/raw, data/clean, data/dedup, data/tokens
and render), each fine-tuned task's card, and evaluate's samples under params.yaml's
`evaluate.samples`, on the CPU. Imports are done once before the timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.card import render  # noqa: E402
from stages.common.params import load_section, load_seed  # noqa: E402
from stages.evaluate.samples import generate  # noqa: E402
from stages.finetune import card as finetune_card  # noqa: E402
from stages.pretrain import card as pretrain_card  # noqa: E402
from stages.report.sources import load_summary  # noqa: E402


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seed = load_seed()
    pre, fine, ev = load_section("pretrain"), load_section("finetune"), load_section("evaluate")
    metrics = load_summary(Path("metrics/pretrain.json"))  # numbers and info/ text, as the stage had them

    def pretrain_card_text() -> str:
        return render(
            pretrain_card.build_spec(pre, seed, metrics, Path("data/tokens"), Path("models/pretrain"))
        )

    print(f"pretrain card: {median_seconds(pretrain_card_text, args.repeat):.2f} s")
    for task in fine.tasks:
        m = load_summary(Path(f"metrics/finetune/{task}.json"))
        model_dir = Path("models/finetune") / task
        s = median_seconds(
            lambda t=task, m=m, d=model_dir: render(finetune_card.build_spec(t, fine, seed, m, d)),
            args.repeat,
        )
        print(f"{task} card: {s:.2f} s")
    n = len(ev.samples.prompts)
    s = median_seconds(lambda: generate(ev.samples, seed, "cpu", Path("models/pretrain")), args.repeat)
    print(
        f"samples: {s:.2f} s for {n} prompts of up to {ev.samples.max_new_tokens} new tokens (model load included)"
    )


if __name__ == "__main__":
    main()

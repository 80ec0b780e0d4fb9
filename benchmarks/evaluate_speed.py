"""What evaluate's speed levers save, on the default run's models and data.

    python benchmarks/evaluate_speed.py --turns 5

few-shot: `fewshot.score_choices` (the LM head and log-softmax only at the positions that
predict a continuation token) against the same loop with the head over every position (the
reference below), on the default few-shot prompts of one k, taking turns in one process so
that a busy stretch of the shared machine falls on both alike. Prints the median CPU and
wall seconds of each, the median per-turn ratio, and the largest score difference and the
number of changed predictions (float noise only when 0).

    python benchmarks/evaluate_speed.py --ner-padding

NER: the token positions (real and padding) the gold set's batches feed the tagger, in file
order and in evaluate's length order, read the way `ner.model_tag` reads them (echoed when
the tagger was trained so).

    python benchmarks/evaluate_speed.py --verify fewshot classify adversarial ner robust

Runs the named evaluate families on the checked-out models and data and says whether their
metrics.json keys and their metrics/evaluate/<family>.json (timings aside) equal the files on
disk: a pure-speed lever must leave them as they were.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.params import load_section, load_seed  # noqa: E402
from stages.evaluate import fewshot, paths  # noqa: E402
from stages.evaluate.classify import read_split  # noqa: E402
from stages.evaluate.config import EvaluateParams  # noqa: E402
from stages.evaluate.context import Context  # noqa: E402
from stages.evaluate.models import check_model_dir  # noqa: E402


def full_head_scores(model, tok, prompts, choices, max_length, batch_size) -> np.ndarray:
    """The reference: score_choices with the LM head and log-softmax over every position."""
    return fewshot.score_choices(
        model, tok, prompts, choices, max_length, batch_size, "cpu", keep_logits=False
    )


def prompts_of(ctx: Context, tok, context: int, k: int) -> list[str]:
    """The default run's few-shot prompts with k demonstrations (fewshot.evaluate_k's)."""
    cfg = ctx.cfg.fewshot
    task_dir = paths.TASKS_DIR / fewshot.TASK
    train, (texts, y) = read_split(task_dir, "train"), read_split(task_dir, "test")
    rng = np.random.default_rng(ctx.seed)
    queries = np.sort(rng.choice(len(y), size=min(cfg.n_test or len(y), len(y)), replace=False))
    demos = fewshot.draw_demos(len(train[1]), len(queries), max(cfg.ks), ctx.seed)
    choices = [fewshot.TARGET_DELIMITER + w for w in cfg.verbalizer]
    room = context + 1 - max(len(tok(c, add_special_tokens=False)["input_ids"]) for c in choices)

    def fits(prompt: str) -> bool:
        return len(tok(prompt, add_special_tokens=False, verbose=False)["input_ids"]) <= room

    out = []
    for q, d in zip(queries, demos):
        shots = [(train[0][i], int(train[1][i])) for i in d[:k]]
        out.append(
            fewshot.build_prompt(texts[q], shots, cfg.template, cfg.verbalizer, cfg.separator, fits)[0]
        )
    return out


def ner_padding(batch_size: int) -> None:
    """Print the positions fed to the NER tagger in file order and in length order."""
    import json

    from transformers import AutoTokenizer

    from stages.evaluate import ner

    model_dir = paths.FINETUNE_DIR / ner.TASK
    gold = ner.read_sentences(paths.TASKS_DIR / ner.TASK / "test.parquet")
    cfg: EvaluateParams = load_section("evaluate")
    lengths = [len(x) for x in AutoTokenizer.from_pretrained(str(model_dir))(gold.texts, truncation=True,
               max_length=cfg.ner.max_length)["input_ids"]]  # fmt: skip
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("echo_input"):
        lengths = [2 * n + 1 for n in lengths]

    def positions(order: list[int]) -> int:
        chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        return sum(max(lengths[i] for i in c) * len(c) for c in chunks)

    file_order = positions(list(range(len(lengths))))
    by_length = positions(sorted(range(len(lengths)), key=lengths.__getitem__))
    print(f"NER gold: {len(lengths)} sentences, {sum(lengths)} real tokens, batch {batch_size}")
    print(
        f"  positions in file order {file_order}, in length order {by_length}: {file_order / by_length:.2f}x"
    )


def verify(names: list[str]) -> None:
    """Run the named families and compare them with metrics/ as checked out."""
    import json

    from stages.common.runtime import pick_device, seed_everything
    from stages.evaluate import run

    cfg: EvaluateParams = load_section("evaluate")
    seed = load_seed()
    seed_everything(seed)
    ctx = Context(cfg, seed, pick_device(cfg.device), run.finetune_tasks())
    on_disk = json.loads(paths.METRICS_FILE.read_text(encoding="utf-8"))

    def untimed(d):
        if isinstance(d, dict):
            return {k: untimed(v) for k, v in d.items() if k != "seconds_per_prompt"}
        return d

    for family in (f for f in run.FAMILIES if f.name in names):
        cpu, wall, (flat, detail, _) = timed(lambda f=family: f.run(ctx))
        changed = sorted(k for k, v in flat.items() if on_disk.get(k, "n/a") != v)
        old = json.loads((paths.DETAIL_DIR / f"{family.name}.json").read_text(encoding="utf-8"))
        same = untimed(json.loads(json.dumps(detail))) == untimed(old)
        print(f"{family.name}: CPU {cpu:.1f} s, wall {wall:.1f} s; metrics.json keys changed: {changed or 'none'}; "
              f"detail {'identical' if same else 'DIFFERENT'} (timings aside)")  # fmt: skip


def timed(fn) -> tuple[float, float, np.ndarray]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--k", type=int, default=4, help="demonstrations per prompt (one of evaluate.fewshot.ks)")
    ap.add_argument("--n", type=int, default=96, help="prompts scored per turn")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's choice)")
    ap.add_argument(
        "--verify", nargs="+", metavar="FAMILY", help="compare these families with metrics/ instead"
    )
    ap.add_argument(
        "--ner-padding", action="store_true", help="count the NER tagger's padded positions instead"
    )
    args = ap.parse_args()
    if args.verify:
        verify(args.verify)
        return
    if args.ner_padding:
        ner_padding(load_section("evaluate").batch_size)
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg: EvaluateParams = load_section("evaluate")
    ctx = Context(cfg, load_seed(), "cpu", ())
    model, tok, context = fewshot.load_ours(
        ctx, paths.PRETRAIN_DIR, check_model_dir(paths.PRETRAIN_DIR, "pretrain")
    )
    prompts = prompts_of(ctx, tok, context, args.k)[: args.n]
    choices = [fewshot.TARGET_DELIMITER + w for w in cfg.fewshot.verbalizer]
    runs = {
        "full head": lambda: full_head_scores(model, tok, prompts, choices, context, cfg.batch_size),
        "kept positions": lambda: fewshot.score_choices(
            model, tok, prompts, choices, context, cfg.batch_size, "cpu"
        ),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    scores: dict[str, np.ndarray] = {}
    for _ in range(args.turns):
        for name, fn in runs.items():
            cpu, wall, scores[name] = timed(fn)
            times[name].append((cpu, wall))
    print(
        f"few-shot k={args.k}, {len(prompts)} prompts, {args.turns} turns, torch threads {torch.get_num_threads()}"
    )
    for name, ts in times.items():
        cpu, wall = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
        print(f"  {name:15s} median CPU {cpu:.2f} s, wall {wall:.2f} s")
    ratios = [a[0] / b[0] for a, b in zip(times["full head"], times["kept positions"])]
    print(
        f"  CPU ratio full/kept per turn: median {statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"
    )
    a, b = scores["full head"], scores["kept positions"]
    print(
        f"  max |score diff| {np.abs(a - b).max():.2e}, predictions changed {int((a.argmax(1) != b.argmax(1)).sum())}"
    )


if __name__ == "__main__":
    main()

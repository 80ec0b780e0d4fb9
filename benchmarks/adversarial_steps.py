"""Every figure evaluate gives an adversarially trained classifier, for two of them side by side.

    python benchmarks/adversarial_steps.py /tmp/adv_steps2 /tmp/adv_steps1

Each argument is a folder that `python -m stages.finetune adversarial` wrote (models/finetune/
adversarial), trained on the same data/tasks and models/pretrain with one setting changed
(here `finetune.adversarial.adv_steps`). Both are scored the way evaluate scores
models/finetune/adversarial, with the same code and the same order of calls, so a model's
counts equal its metrics/evaluate/{adversarial,robust}.json: clean test accuracy and macro-F1
(classify/test), accuracy on the perturbed test (adversarial/test) and the black-box attack
on evaluate's seeded subset. Each figure gets a 95% percentile bootstrap interval over its
examples (1000 resamples, the params seed), and the second model minus the first a paired one
from the same resampled indices. Run from the repository root: data/tasks is read from there.

    python benchmarks/adversarial_steps.py --time 12 --turns 3

What a setting costs: `--time N` runs N training steps (forward, FreeLB's backward passes,
optimizer step) of the adversarial task on models/pretrain with each `adv_steps` in turn
(`--steps`, default 2 and 1), the same seeded batches for both, and prints the median CPU
and wall seconds per step of each and the median per-turn ratio.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.params import load_section, load_seed  # noqa: E402
from stages.common.perturb import attack_variants  # noqa: E402
from stages.evaluate import paths, robust  # noqa: E402
from stages.evaluate.classify import load_classifier, predict, read_split  # noqa: E402
from stages.evaluate.config import EvaluateParams  # noqa: E402


def macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    """Macro-F1 over the classes present in y (as evaluate's scikit-learn call)."""
    f1s = []
    for c in np.unique(y):
        tp = np.sum((p == c) & (y == c))
        denom = np.sum(p == c) + np.sum(y == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s))


def score_model(model_dir: Path, cfg: EvaluateParams, seed: int) -> dict[str, np.ndarray]:
    """Per-example outcomes of one model: clean and perturbed predictions, and for the attacked
    subset whether it was correct and whether some scored candidate flipped it."""
    clean_dir, pert_dir = paths.TASKS_DIR / robust.CLEAN, paths.TASKS_DIR / robust.PERTURBED
    texts, y = read_split(clean_dir, "test")
    # The classification family predicts the clean test first; robustness then reuses those labels.
    clean_pred = predict(model_dir, texts, cfg.classify.max_length, cfg.batch_size, "cpu")
    classifier = load_classifier(model_dir, cfg.classify.max_length, cfg.batch_size, "cpu")
    seen: dict[str, int] = {}

    def recorded(batch: list[str]) -> np.ndarray:
        out = classifier(batch)
        seen.update(zip(batch, out.tolist()))
        return out

    ptexts, py = read_split(pert_dir, "test")
    pert_pred = recorded(ptexts)
    subset = np.sort(
        np.random.default_rng(seed).choice(
            len(y), size=min(cfg.robust.n_attack or len(y), len(y)), replace=False
        )
    )
    ids = robust.read_ids(clean_dir, "test")
    distractors = robust.read_distractors(pert_dir)
    seeds = [f"{seed}:{ids[i]}" for i in subset]
    sub_texts = [texts[i] for i in subset]
    counts = robust.attack(
        recorded, sub_texts, y[subset], seeds, cfg.robust.attack_budget, cfg.robust.kinds, distractors
    )
    correct = clean_pred[subset] == y[subset]
    flipped = np.zeros(len(subset), dtype=bool)
    for j in np.flatnonzero(correct):
        cands = attack_variants(
            sub_texts[j], random.Random(seeds[j]), cfg.robust.attack_budget, cfg.robust.kinds, distractors
        )
        flipped[j] = any(t in seen and seen[t] != y[subset][j] for _, t in cands)
    if (int(correct.sum()), int(flipped.sum())) != (counts["n_correct"], counts["n_flipped"]):
        raise SystemExit(
            f"{model_dir}: per-example flips {flipped.sum()} differ from the attack's count {counts}"
        )
    return {"y": y, "clean": clean_pred, "py": py, "pert": pert_pred, "correct": correct, "flipped": flipped}


def figures(
    s: dict[str, np.ndarray], idx: np.ndarray, pidx: np.ndarray, aidx: np.ndarray
) -> dict[str, float]:
    """The figures of one model on resampled indices (clean test, perturbed test, attacked subset)."""
    c, f = s["correct"][aidx], s["flipped"][aidx]
    return {
        "clean acc": float(np.mean(s["clean"][idx] == s["y"][idx])),
        "clean macro-F1": macro_f1(s["y"][idx], s["clean"][idx]),
        "perturbed acc": float(np.mean(s["pert"][pidx] == s["py"][pidx])),
        "attack success rate": float(f.sum() / max(1, c.sum())),
        "robust acc (correct, unflipped)": float(np.mean(c & ~f)),
    }


def time_steps(n_steps: int, turns: int, settings: list[int]) -> None:
    """Median CPU and wall seconds per training step for each adv_steps, taken in turns."""
    import dataclasses
    import statistics
    import time

    import torch

    from stages.common.optim import FINETUNE_BETAS, make_optimizer
    from stages.common.runtime import pick_precision
    from stages.finetune import adversarial, data, model
    from stages.finetune import paths as fpaths
    from stages.finetune.config import FinetuneParams
    from stages.finetune.train import TrainEnv, to_device

    cfg: FinetuneParams = load_section("finetune")
    seed = load_seed()
    task_dir = fpaths.TASKS_DIR / "adversarial"
    labels = data.read_labels(task_dir)
    tok = model.load_tokenizer(fpaths.PRETRAIN_DIR)
    texts, ys = data.read_split(task_dir, "train", len(labels))
    enc = data.encode(tok, texts, ys, cfg.classify.max_length)
    env = TrainEnv("cpu", pick_precision(cfg.precision, "cpu"), seed, None)
    times: dict[int, list[tuple[float, float]]] = {k: [] for k in settings}
    for _ in range(turns):
        for k in settings:
            adv = dataclasses.replace(cfg.adversarial, adv_steps=k)
            torch.manual_seed(seed)
            net = model.load_classifier("adversarial", fpaths.PRETRAIN_DIR, labels, tok.pad_token_id)
            net.train()
            opt = make_optimizer(net, cfg.classify.lr, cfg.classify.weight_decay, FINETUNE_BETAS, None)
            feed = data.batches(enc, cfg.classify.batch_size, tok.pad_token_id, random.Random(seed), True)
            cpu, wall = time.process_time(), time.perf_counter()
            for _, batch in zip(range(n_steps), feed):
                opt.zero_grad(set_to_none=True)
                adversarial.freelb_backward(net, to_device(batch, "cpu"), adv, env)
                opt.step()
            times[k].append(((time.process_time() - cpu) / n_steps, (time.perf_counter() - wall) / n_steps))
    print(
        f"{n_steps} steps x {turns} turns, precision {env.precision}, torch threads {torch.get_num_threads()}"
    )
    for k, ts in times.items():
        print(f"adv_steps {k}: CPU {statistics.median(c for c, _ in ts):.3f} s/step, "
              f"wall {statistics.median(w for _, w in ts):.3f} s/step")  # fmt: skip
    a, b = settings[0], settings[-1]
    ratios = [x[0] / y[0] for x, y in zip(times[a], times[b])]
    print(
        f"CPU per step, adv_steps {a} / {b}: median {statistics.median(ratios):.2f} (turns {[round(r, 2) for r in ratios]})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "models", nargs="*", type=Path, help="two adversarially trained model folders: before, after"
    )
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument(
        "--time", type=int, default=0, metavar="N", help="time N training steps per setting instead"
    )
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=[2, 1], help="the adv_steps settings timed")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.time:
        time_steps(args.time, args.turns, args.steps)
        return
    if len(args.models) != 2:
        ap.error("give two model folders (before, after), or --time N")
    cfg: EvaluateParams = load_section("evaluate")
    seed = load_seed()
    scored = [score_model(m, cfg, seed) for m in args.models]
    n, pn, an = len(scored[0]["y"]), len(scored[0]["py"]), len(scored[0]["correct"])
    full = [figures(s, np.arange(n), np.arange(pn), np.arange(an)) for s in scored]
    rng = np.random.default_rng(seed)
    boot: dict[str, list[list[float]]] = {k: [[], [], []] for k in full[0]}
    for _ in range(args.resamples):
        idx, pidx, aidx = rng.integers(0, n, n), rng.integers(0, pn, pn), rng.integers(0, an, an)
        a, b = (figures(s, idx, pidx, aidx) for s in scored)
        for k in boot:
            boot[k][0].append(a[k])
            boot[k][1].append(b[k])
            boot[k][2].append(b[k] - a[k])

    def ci(v: list[float]) -> str:
        return f"[{np.percentile(v, 2.5):+.4f}, {np.percentile(v, 97.5):+.4f}]"

    print(f"A = {args.models[0]}, B = {args.models[1]}; 95% bootstrap intervals, {args.resamples} resamples")
    for s, m in zip(scored, args.models):
        print(f"{m}: attack n_correct {int(s['correct'].sum())}, n_flipped {int(s['flipped'].sum())}")
    print("| figure | A | B | B - A (paired) |\n|---|---|---|---|")
    for k in full[0]:
        a, b = full[0][k], full[1][k]
        print(
            f"| {k} | {a:.4f} {ci(boot[k][0])} | {b:.4f} {ci(boot[k][1])} | {b - a:+.4f} {ci(boot[k][2])} |"
        )


if __name__ == "__main__":
    main()

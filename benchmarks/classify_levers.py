"""Each lever of the classify fine-tune, trained from models/pretrain and scored on classify/test.

    python benchmarks/classify_levers.py [--variants base,eos,mean,...] [--seed 42]
    python benchmarks/classify_levers.py --time-tfidf 5   # only time evaluate's TF-IDF fit
    python benchmarks/classify_levers.py --time-adapt 5   # only time an adapt step against a fine-tune step

Every variant is the stage's own `train_classifier` with the default params plus one change;
it prints test accuracy beside TF-IDF + logistic regression fitted on the same train split,
the paired bootstrap interval of the difference (evaluate's `paired_diff_ci`) and the training
time. Variants (combine with `+`, e.g. `both+lr1e-3`):

- `base`: params.yaml as it is;
- `none` / `end` / `both`: `finetune.classify.text_boundary`, the document separator after
  (and before) each text, so the last-token head reads a fixed end-of-text position;
- `mean`: mean over all real tokens instead of the last one (on a Llama a patched forward,
  not saveable as an AutoModelForSequenceClassification; on a ModernBERT its own
  `classifier_pooling: mean`);
- `lr<x>`, `ep<n>`, `wd<x>`, `bs<n>`: lr, epochs, weight decay, batch size;
- `adapt<n>`, `adaptlr<x>`, `adaptbs<n>`: task-adaptive pre-training on the train texts for n
  steps (`finetune.classify.adapt_steps`), its lr and windows per step;
- `extra<n>`: n more vader texts (train only, from those max_docs sampled out) in train; the
  TF-IDF baseline is refitted on the same larger train;
- `pl<n>`: n seeded sentences of Pang & Lee's reviews (each with its review's label) in train
  only, TF-IDF refitted likewise.

Needs the default run's data/tasks/classify and models/pretrain (dvc checkout).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def extra_task_dir(n: int, seed: int, tmp: Path) -> Path:
    """classify's splits with `n` more vader texts in train, drawn from those the builder sampled out."""
    import random
    from collections import Counter

    import pyarrow as pa
    import pyarrow.parquet as pq

    from stages.common.params import load_section
    from stages.tasks.classify import filter_examples, read_sources
    from stages.tasks.split import stratified_sample

    src = ROOT / "data/tasks/classify"
    cfg = load_section("tasks", ROOT / "params.yaml").classify

    kept = filter_examples(read_sources(cfg), cfg, Counter())
    keep = set(stratified_sample([f"{e.source}|{y}" for e, y in kept], cfg.max_docs, seed))
    out = [kept[i] for i in range(len(kept)) if i not in keep]
    random.Random(seed).shuffle(out)
    out = out[:n]
    dst = tmp / "classify"
    shutil.copytree(src, dst)
    train = pq.read_table(dst / "train.parquet")
    more = pa.table(
        {
            "id": [e.id for e, _ in out],
            "text": [e.text for e, _ in out],
            "label": pa.array([y for _, y in out], pa.int64()),
            "source": [e.source for e, _ in out],
            "score": [e.score for e, _ in out],
        }
    ).cast(train.schema)
    pq.write_table(pa.concat_tables([train, more]), dst / "train.parquet")
    return tmp


def pang_lee_task_dir(n: int, seed: int, tmp: Path) -> Path:
    """classify's splits with `n` seeded sentences of Pang & Lee's reviews, each labelled with its
    review's polarity, in train only (a plot-summary sentence carries its review's label: noisy)."""
    import random
    import re

    import pyarrow as pa
    import pyarrow.parquet as pq

    from stages.common.params import load_section
    from stages.tasks.sources import read_pang_lee

    cfg = load_section("tasks", ROOT / "params.yaml").classify
    rows = [
        (f"{e.id}/{i}", text, int(e.score > 0))
        for e in read_pang_lee(cfg.pang_lee)
        for i, text in enumerate(re.split(r"(?<=[.!?])\s+", e.text))
        if len(text) >= cfg.min_chars
    ]
    rows = random.Random(seed).sample(rows, n)
    dst = tmp / "classify"
    shutil.copytree(ROOT / "data/tasks/classify", dst)
    train = pq.read_table(dst / "train.parquet")
    cols = {
        "id": [r[0] for r in rows],
        "text": [r[1] for r in rows],
        "label": pa.array([r[2] for r in rows], pa.int64()),
        "source": ["pang_lee"] * n,
        "score": [2.0 * r[2] - 1.0 for r in rows],
    }
    pq.write_table(pa.concat_tables([train, pa.table(cols).cast(train.schema)]), dst / "train.parquet")
    return tmp


def mean_pool(model) -> None:
    """Replace the last-token head with a mean over the attention mask's tokens.

    A ModernBERT (a masked backbone) pools through its own `classifier_pooling`, which
    evaluate's AutoModelForSequenceClassification would read back from the saved config.
    """
    if model.config.model_type == "modernbert":
        model.config.classifier_pooling = "mean"
        return
    body, head = model.model, model.score

    def forward(input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, **kw):
        h = body(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds
        ).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return SimpleNamespace(logits=head((h * m).sum(1) / m.sum(1).clamp(min=1)))

    model.forward = forward


def quiet_env(train_env):
    """The stage's train_env with its dvclive curves sent nowhere: a benchmark leaves metrics/ alone."""
    import contextlib

    import stages.finetune.session as session

    class NoLive:
        step = 0

        def log_metric(self, *a, **k) -> None:
            pass

        def end(self) -> None:
            pass

    @contextlib.contextmanager
    def env(*args, **kw):
        real, session.open_live = session.open_live, lambda name: NoLive()
        try:
            with train_env(*args, **kw) as e:
                yield e
        finally:
            session.open_live = real

    return env


def run_variant(name: str, seed: int) -> dict:
    import numpy as np
    import torch

    import stages.finetune.classify as fc
    from stages.common.params import load_section
    from stages.evaluate.classify import fit_tfidf, read_split
    from stages.evaluate.stats import paired_diff_ci
    from stages.finetune import paths

    cfg = load_section("finetune", ROOT / "params.yaml")
    eval_cfg = load_section("evaluate", ROOT / "params.yaml").classify
    tp = cfg.classify
    parts = name.split("+")
    changes, pool, extra, pang_lee = {}, False, 0, 0
    for p in parts:
        if p in ("none", "end", "both"):
            changes["text_boundary"] = p
        elif p == "mean":
            pool = True
        elif p.startswith("adaptlr"):
            changes["adapt_lr"] = float(p[7:])
        elif p.startswith("adaptbs"):
            changes["adapt_batch_size"] = int(p[7:])
        elif p.startswith("adapt"):
            changes["adapt_steps"] = int(p[5:])
        elif p.startswith("lr"):
            changes["lr"] = float(p[2:])
        elif p.startswith("ep"):
            changes["epochs"] = int(p[2:])
        elif p.startswith("wd"):
            changes["weight_decay"] = float(p[2:])
        elif p.startswith("bs"):
            changes["batch_size"] = int(p[2:])
        elif p.startswith("extra"):
            extra = int(p[5:])
        elif p.startswith("pl"):
            pang_lee = int(p[2:])
        elif p != "base":
            raise SystemExit(f"unknown variant part {p!r}")
    cfg = dataclasses.replace(cfg, classify=dataclasses.replace(tp, **changes))
    load_cls, train_env = fc.load_classifier, fc.train_env

    def cls_loader(*a, **k):
        model = load_cls(*a, **k)
        if pool:
            mean_pool(model)
        return model

    fc.load_classifier, fc.train_env = cls_loader, quiet_env(train_env)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tasks_dir = paths.TASKS_DIR
            if extra:
                tasks_dir = extra_task_dir(extra, seed, Path(tmp))
            elif pang_lee:
                tasks_dir = pang_lee_task_dir(pang_lee, seed, Path(tmp))
            start = time.perf_counter()
            metrics, model, tok = fc.train_classifier("classify", cfg, seed, paths.PRETRAIN_DIR, tasks_dir)
            wall = time.perf_counter() - start
            train = read_split(tasks_dir / "classify", "train")
    finally:
        fc.load_classifier, fc.train_env = load_cls, train_env
    texts, y = read_split(ROOT / "data/tasks/classify", "test")
    model.eval()
    pred = np.zeros(len(y), dtype=np.int64)
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            enc = tok(
                texts[i : i + 64],
                truncation=True,
                max_length=eval_cfg.max_length,
                padding=True,
                return_tensors="pt",
            )
            pred[i : i + 64] = model(**enc).logits.argmax(-1).numpy()
    tfidf = fit_tfidf(train, eval_cfg, seed)(texts)
    diff = paired_diff_ci(y, pred, tfidf, eval_cfg.bootstrap, eval_cfg.ci, seed)
    return {
        "variant": name,
        "acc": float((pred == y).mean()),
        "tfidf": float((tfidf == y).mean()),
        "diff": diff,
        "best_epoch": metrics["best_epoch"],
        "valid": metrics["best_valid"],
        "train_s": metrics["train_time_s"],
        "adapt_s": metrics.get("adapt_time_s", 0.0),
        "adapt_loss": (metrics.get("adapt_loss_first"), metrics.get("adapt_loss_last")),
        "wall_s": round(wall, 1),
        "train_n": metrics["train_examples"],
    }


def time_tfidf(n: int, seed: int) -> None:
    """Median seconds of `n` fits of evaluate's TF-IDF + logistic regression on classify/train
    (uncached: `fit_tfidf` would fit once and serve the rest)."""
    import statistics

    from stages.common.params import load_section
    from stages.evaluate.classify import _fit_tfidf, read_split

    train = read_split(ROOT / "data/tasks/classify", "train")
    cfg = load_section("evaluate", ROOT / "params.yaml").classify
    times = []
    for _ in range(n):
        start = time.perf_counter()
        _fit_tfidf(train, cfg, seed)
        times.append(time.perf_counter() - start)
    print(
        f"TF-IDF fit on classify/train ({len(train[0])} texts): median {statistics.median(times):.1f} s of {n}"
    )


def time_adapt(turns: int, steps: int, seed: int) -> None:
    """Median seconds of one task-adaptive pre-training step (adapt_batch_size windows of
    max_length tokens) and of one fine-tuning step (batch_size texts of classify/train), timed in
    alternating turns of `steps` each, so that a shared machine's load falls on both alike."""
    import random
    import statistics

    import numpy as np
    import torch

    from stages.common.init_from import load_init_model
    from stages.common.lm_train import Batches, StepSettings, train_step
    from stages.common.optim import PRETRAIN_BETAS, TrainState, autocast, linear_schedule, make_optimizer
    from stages.common.params import load_section
    from stages.common.runtime import pick_precision
    from stages.finetune import paths
    from stages.finetune.classify import classification_loss
    from stages.finetune.data import batches, encode, read_split
    from stages.finetune.domain import objective_of, stream
    from stages.finetune.model import load_classifier, load_tokenizer

    c = load_section("finetune", ROOT / "params.yaml").classify
    precision = pick_precision("auto", "cpu")
    tok = load_tokenizer(paths.PRETRAIN_DIR)
    texts, labels = read_split(paths.TASKS_DIR / "classify", "train", 2)
    lm, _ = load_init_model(str(paths.PRETRAIN_DIR), "clm")
    lm.train()
    obj = objective_of(lm, tok, c.adapt_mask_prob, "clm", c.max_length)
    gens = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    opt = make_optimizer(lm, c.adapt_lr, c.weight_decay, PRETRAIN_BETAS, True)
    state = TrainState(
        lm, opt, linear_schedule(c.adapt_lr, 10**6, 0.0), Batches(stream(tok, texts), *gens, obj)
    )
    how = StepSettings(c.adapt_batch_size, 1, c.grad_clip, "cpu", precision)
    clf = load_classifier("classify", paths.PRETRAIN_DIR, ["negative", "positive"], tok.pad_token_id)
    clf.train()
    clf_opt = make_optimizer(clf, c.lr, c.weight_decay, (0.9, 0.999), None)
    enc = encode(tok, texts, labels, c.max_length)
    rng = random.Random(seed)

    def clf_steps() -> None:
        for batch, _ in zip(batches(enc, c.batch_size, tok.pad_token_id, rng), range(steps)):
            with autocast("cpu", precision):
                loss = classification_loss(clf, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(clf.parameters(), c.grad_clip)
            clf_opt.step()
            clf_opt.zero_grad(set_to_none=True)

    adapt_t, clf_t = [], []
    for _ in range(turns):
        start = time.perf_counter()
        for _ in range(steps):
            train_step(state, how)
        adapt_t.append((time.perf_counter() - start) / steps)
        start = time.perf_counter()
        clf_steps()
        clf_t.append((time.perf_counter() - start) / steps)
    a, f = statistics.median(adapt_t), statistics.median(clf_t)
    ratios = sorted(x / y for x, y in zip(adapt_t, clf_t))
    print(
        f"adapt step ({c.adapt_batch_size} x {c.max_length} tokens): median {a:.3f} s; fine-tune step "
        f"({c.batch_size} texts): median {f:.3f} s; ratio median {statistics.median(ratios):.2f} "
        f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}, {turns} turns of {steps} steps, {precision})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="none,end,both,none+mean")
    ap.add_argument("--seed", type=int, default=None, help="default: params.yaml's seed")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--time-tfidf",
        type=int,
        default=0,
        metavar="N",
        help="only time N fits of evaluate's TF-IDF baseline on classify/train and print the median",
    )
    ap.add_argument(
        "--time-adapt",
        type=int,
        default=0,
        metavar="TURNS",
        help="only time adapt steps against fine-tuning steps in TURNS alternating turns of 10",
    )
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from stages.common.params import load_seed

    seed = load_seed(ROOT / "params.yaml") if args.seed is None else args.seed
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.time_adapt:
        time_adapt(args.time_adapt, 10, seed)
        return
    if args.time_tfidf:
        time_tfidf(args.time_tfidf, seed)
        return
    for name in args.variants.split(","):
        r = run_variant(name, seed)
        d = r["diff"]
        print(
            f"{r['variant']:<24} acc {r['acc']:.4f}  tfidf {r['tfidf']:.4f}  diff {d['diff']:+.4f} "
            f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]  valid {r['valid']:.4f} (epoch {r['best_epoch']})  "
            f"train {r['train_n']} texts {r['train_s']:.0f} s, adapt {r['adapt_s']:.0f} s "
            f"(LM loss {r['adapt_loss'][0]} -> {r['adapt_loss'][1]}), wall {r['wall_s']:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()

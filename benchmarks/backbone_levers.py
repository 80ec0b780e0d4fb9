"""Backbone levers for classify and NER: a pre-training mix toward some sources, or a masked backbone.

    python benchmarks/backbone_levers.py --work /tmp/mix --weight reviews=3
    python benchmarks/backbone_levers.py --work /tmp/mlm --objective mlm --variants base,none+mean --ner

Each run pre-trains a backbone with the stage's own `pretrain` and params.yaml's `pretrain`
section (changed only by `--objective`, `--steps` and `--seed`), then fine-tunes from it:

- `--weight SOURCE=W` (repeatable): `<work>/data/tokens` is the default run's token files with
  the train split's documents of SOURCE (read from data/dedup, encoded by data/tokenizer and
  closed by eos as the tokenizer stage packs them; the valid split untouched) appended W - 1
  more times, so pretrain's uniform window sampler reads them W times as often;
- classify: `benchmarks/classify_levers.py`'s variants (default `base`; `mean` pools over all
  tokens, on a ModernBERT through its own `classifier_pooling`), test accuracy beside TF-IDF
  with the paired bootstrap interval;
- `--ner`: finetune's NER `run` on the default run's data/tasks/ner, scored on the gold set
  with ner_levers.py's `gold_scores` (F1 with its interval, per type, per genre).

`--time-ner DIR` only times a NER training step on the backbone in DIR (a masked one reads
each sentence once) against one on models/pretrain (causal: echo reads it twice), in
alternating turns on random token ids, and prints the medians and their ratio.

Needs the default run's data/dedup, data/tokenizer, data/tokens and data/tasks (dvc checkout).
Nothing under the repository is written: the model and its metrics go to `<work>`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def mixed_tokens(weights: dict[str, int], out: Path) -> None:
    """The default token files with the train documents of each weighted source repeated."""
    import numpy as np
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    from stages.common.io import shard_paths
    from stages.common.params import load_section, load_seed
    from stages.tokenizer.split import is_valid_doc

    src = ROOT / "data/tokens"
    shutil.copytree(src, out)
    if not weights:
        return
    meta = json.loads((src / "meta.json").read_text())
    valid_fraction = load_section("tokenizer", ROOT / "params.yaml").valid_fraction
    seed = load_seed(ROOT / "params.yaml")  # the tokenizer stage's split, whatever --seed says
    tok = Tokenizer.from_file(str(ROOT / "data/tokenizer/tokenizer.json"))
    dtype = np.dtype(meta["dtype"])
    texts: dict[str, list[str]] = {source: [] for source in weights}
    for path in shard_paths(ROOT / "data/dedup"):
        for r in pq.read_table(path, columns=["id", "text", "source"]).to_pylist():
            if r["source"] in texts and not is_valid_doc(r["id"], seed, valid_fraction):
                texts[r["source"]].append(r["text"])
    with open(out / "train.bin", "ab") as f:
        for source, w in weights.items():
            docs = texts[source]
            if not docs:
                raise SystemExit(
                    f"--weight {source}={w}: no train document of source {source!r} in data/dedup"
                )
            ids = [e.ids + [meta["eos_id"]] for e in tok.encode_batch(docs, add_special_tokens=False)]
            flat = np.concatenate([np.asarray(d, dtype=dtype) for d in ids])
            for _ in range(w - 1):
                f.write(flat.tobytes())
            meta["n_tokens"]["train"] += int(flat.size) * (w - 1)
            print(f"{source}: {len(docs)} train documents, {flat.size:,} tokens, read {w}x", flush=True)
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


def score_ner(seed: int) -> dict:
    """Fine-tune NER from models/pretrain (of the working directory) and score it on the gold set."""
    from ner_levers import gold_scores

    from stages.common.params import load_section
    from stages.finetune import ner as ft
    from stages.finetune import paths as ft_paths

    cfg, ecfg = load_section("finetune", ROOT / "params.yaml"), load_section("evaluate", ROOT / "params.yaml")
    start = time.perf_counter()
    m = ft.run("ner", cfg, seed, pretrain_dir=ft_paths.PRETRAIN_DIR, tasks_dir=ft_paths.TASKS_DIR)
    return {
        "valid_f1": m["best_valid"],
        "best_epoch": m["best_epoch"],
        "train_tokens": m["train_tokens"],
        "wall_s": round(time.perf_counter() - start, 1),
        **gold_scores(ft_paths.MODELS_DIR / "ner", ft_paths.TASKS_DIR / "ner", ecfg, seed),
    }


def time_ner(other: Path, tokens: int, turns: int) -> None:
    """Median training-step time of a token classifier on `other` (tokens) and on models/pretrain (2 x tokens)."""
    import statistics

    import torch
    from transformers import AutoModelForTokenClassification

    def step(model, length: int) -> float:
        x = torch.randint(10, 8000, (16, length))
        mask = torch.ones_like(x)
        mask[:4, length - 10 :] = 0  # a quarter of the rows padded, as in a length-bucketed batch
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(input_ids=x, attention_mask=mask, labels=torch.zeros(16, length, dtype=torch.long))
        out.loss.backward()
        return time.perf_counter() - start

    models = {
        f"{other} ({tokens} tokens)": (
            AutoModelForTokenClassification.from_pretrained(other, num_labels=9),
            tokens,
        ),
        f"models/pretrain, echo ({2 * tokens} tokens)": (
            AutoModelForTokenClassification.from_pretrained(ROOT / "models/pretrain", num_labels=9),
            2 * tokens,
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(turns):
        for k, (model, length) in models.items():
            times[k].append(step(model, length))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for k, v in medians.items():
        print(f"{k}: median {v:.3f} s a step of 16 sentences (bf16, {turns} turns)")
    a, b = medians.values()
    print(f"ratio {a / b:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="an empty or absent folder for the run")
    ap.add_argument("--weight", action="append", default=[], metavar="SOURCE=W", help="read SOURCE W times")
    ap.add_argument("--objective", choices=("clm", "mlm"), default=None, help="default: params.yaml's")
    ap.add_argument("--variants", default="base", help="classify_levers.py variants, comma-separated")
    ap.add_argument("--ner", action="store_true", help="also fine-tune NER and score it on the gold set")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--seed", type=int, default=None, help="pretrain and fine-tune seed (default: params.yaml's)"
    )
    ap.add_argument("--steps", type=int, default=0, help="pretrain steps (0: params.yaml's)")
    ap.add_argument("--time-ner", type=Path, default=None, metavar="DIR", help="only time NER steps (above)")
    ap.add_argument("--turns", type=int, default=6, help="--time-ner's alternating turns")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.time_ner:
        time_ner(args.time_ner, 60, args.turns)
        return
    weights = {}
    for w in args.weight:
        source, _, n = w.partition("=")
        if not n.isdigit() or int(n) < 1:
            raise SystemExit(f"--weight {w!r}: give SOURCE=W with a whole W >= 1")
        weights[source] = int(n)
    if args.work is None:
        raise SystemExit("--work: give a new folder for the run")
    if args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"--work {args.work}: not empty; give a new folder")
    import logging

    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    from classify_levers import run_variant

    from stages.common.params import load_section, load_seed
    from stages.common.runtime import keep_freed_memory
    from stages.pretrain.run import pretrain

    keep_freed_memory()  # as the torch stages run

    seed = load_seed(ROOT / "params.yaml") if args.seed is None else args.seed
    cfg = load_section("pretrain", ROOT / "params.yaml")
    if args.objective:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, objective=args.objective))
    if args.steps:
        cfg = dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train, max_steps=args.steps, max_tokens=0)
        )
    work = args.work.resolve()
    (work / "data").mkdir(parents=True, exist_ok=True)
    mixed_tokens(weights, work / "data/tokens")
    (work / "data/tasks").symlink_to(ROOT / "data/tasks")
    # finetune and classify_levers read data/ and models/ from the working directory
    os.chdir(work)
    m = pretrain(cfg, seed, Path("data/tokens"), ROOT / "data/tokenizer", Path("models/pretrain"))
    print(
        f"pretrain {cfg.model.objective}: val loss {m['val_loss']:.4f}, {m['tokens_per_s']:.0f} tokens/s",
        flush=True,
    )
    out = {
        "seed": seed,
        "weights": weights,
        "objective": cfg.model.objective,
        "val_loss": m["val_loss"],
        "classify": {},
    }
    for name in args.variants.split(","):
        r = run_variant(name, seed)
        d = r["diff"]
        out["classify"][name] = {"acc": r["acc"], "tfidf": r["tfidf"], "diff": d, "valid": r["valid"]}
        print(f"classify {name}: acc {r['acc']:.4f}, TF-IDF {r['tfidf']:.4f}, diff {d['diff']:+.4f} "
              f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}], valid {r['valid']:.4f}", flush=True)  # fmt: skip
    if args.ner:
        out["ner"] = score_ner(seed)
        print(f"ner: {json.dumps(out['ner'])}", flush=True)
    (work / "result.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

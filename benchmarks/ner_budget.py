"""What finetune@ner's training budget costs: padded tokens per run, and time per token.

    python benchmarks/ner_budget.py [--task-dir data/tasks/ner] [--steps 6] [--rounds 3]

Reads `<task-dir>/train.parquet` (all silver train rows, as tasks writes them with
`tasks.ner.empty_keep: 1`) and the tokenizer and model of models/pretrain (check out a default
run first). For each setting it builds the training batches exactly as finetune does
(stages/finetune/ner.encode_ner with echo and the last subword, stages/finetune/data.batches
with its length windows) and counts the tokens the forward passes see, padding included, over
the planned epochs. That count is deterministic and is what the run's time scales with on a
CPU. To check that the time per token does not change between settings, it then times
`--steps` real training steps (forward, backward, AdamW) of each setting, the settings taking
turns for `--rounds` rounds, and prints the median milliseconds per 1,000 padded tokens.

A setting is (label, train filter, epochs, batch size); the filter picks train rows:
`all` (every row), `entities` (rows with a teacher entity) or `thin:<p>` (rows with an entity
plus a seeded share p of the rest, as tasks.ner.empty_keep does).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.subwords import echo_length  # noqa: E402
from stages.finetune.data import batches, read_columns, read_labels  # noqa: E402
from stages.finetune.model import load_classifier, load_tokenizer  # noqa: E402
from stages.finetune.ner import COLUMNS, encode_ner, token_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# label, train filter, epochs, batch size
SETTINGS = (
    ("5 epochs, all silver (before)", "all", 5, 16),
    ("3 epochs, all silver", "all", 3, 16),
    ("3 epochs, empty_keep 0.1 (committed)", "thin:0.1", 3, 16),
    ("3 epochs, entities only", "entities", 3, 16),
    ("3 epochs, empty_keep 0.1, batch 32", "thin:0.1", 3, 32),
)


def pick_rows(cols: dict[str, list], how: str, seed: int = 7) -> dict[str, list]:
    has = [any(t != "O" for t in tags) for tags in cols["tags"]]
    if how == "all":
        keep = [True] * len(has)
    elif how == "entities":
        keep = has
    else:
        p, rng = float(how.split(":")[1]), random.Random(seed)
        keep = [h or rng.random() < p for h in has]
    return {c: [v for v, k in zip(cols[c], keep) if k] for c in cols}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="timed training steps per setting and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--task-dir", type=Path, default=ROOT / "data/tasks/ner", help="holds train.parquet, labels.json"
    )
    args = ap.parse_args()
    import torch

    task_dir, pretrain = args.task_dir, ROOT / "models/pretrain"
    labels = read_labels(task_dir)
    label2id = {x: i for i, x in enumerate(labels)}
    tok = load_tokenizer(pretrain)
    model = load_classifier("ner", pretrain, labels, tok.pad_token_id, per_token=True)
    max_length = min(128, echo_length(model.config.max_position_embeddings))
    cols = read_columns(task_dir, "train", COLUMNS)
    print(f"train rows in {task_dir}: {len(cols['text'])} (with a teacher entity: "
          f"{sum(any(t != 'O' for t in g) for g in cols['tags'])})")  # fmt: skip
    runs = {}
    for label, how, epochs, bs in SETTINGS:
        enc = encode_ner(tok, pick_rows(cols, how), label2id, max_length, tok.eos_token_id, "last").enc
        padded = sum(
            b["input_ids"].numel() for e in range(epochs) for b in batches(enc, bs, tok.pad_token_id, random.Random(e))
        )  # fmt: skip
        runs[label] = (enc, bs, padded)
    base = runs[SETTINGS[0][0]][2]
    print(f"{'setting':42} {'sentences':>9} {'padded tokens':>14} {'ratio':>6}")
    for label, (enc, _, padded) in runs.items():
        print(f"{label:42} {len(enc.ids):9,} {padded:14,} {padded / base:6.3f}")

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ms: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds):
        for label, (enc, bs, _) in runs.items():
            it = batches(enc, bs, tok.pad_token_id, random.Random(100 + r))
            for _ in range(args.steps):
                b = next(it)
                t = time.perf_counter()
                loss = token_loss(model, b)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                ms[label].append(1e6 * (time.perf_counter() - t) / b["input_ids"].numel())
    print(
        f"\nmedian ms per 1,000 padded tokens ({args.rounds} rounds x {args.steps} steps, settings in turn):"
    )
    for label, v in ms.items():
        print(f"{label:42} {statistics.median(v):8.2f}")


if __name__ == "__main__":
    main()

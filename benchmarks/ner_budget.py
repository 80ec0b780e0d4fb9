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
turns for `--rounds` rounds, and prints the median seconds per 1,000 padded tokens.

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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.params import load_section  # noqa: E402
from stages.common.subwords import echo_length  # noqa: E402
from stages.finetune.data import batches, read_columns, read_labels  # noqa: E402
from stages.finetune.model import load_classifier, load_tokenizer  # noqa: E402
from stages.finetune.ner import COLUMNS, encode_ner, token_loss  # noqa: E402
from stages.finetune.session import fit_length  # noqa: E402
from stages.tasks.ner import thin_empty  # noqa: E402

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
    """The train rows a filter keeps, by tasks.ner's own `thin_empty`: `all` keeps every
    sentence without an entity, `entities` none, `thin:<p>` a seeded share p."""
    keep = {"all": 1.0, "entities": 0.0}.get(how)
    keep = float(how.split(":")[1]) if keep is None else keep
    rows = [dict(zip(cols, values)) for values in zip(*cols.values())]
    kept = thin_empty(rows, keep, seed, Counter())
    return {c: [r[c] for r in kept] for c in cols}


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
    # finetune.ner's own length, capped as the stage caps it for a causal backbone with echo
    max_length = min(
        fit_length(load_section("finetune").ner.max_length, model.config, "finetune.ner.max_length"),
        echo_length(model.config.max_position_embeddings),
    )
    cols = read_columns(task_dir, "train", COLUMNS)
    print(f"train rows in {task_dir}: {len(cols['text'])} (with a teacher entity: "
          f"{sum(any(t != 'O' for t in g) for g in cols['tags'])})")  # fmt: skip
    runs = {}
    for label, how, epochs, bs in SETTINGS:
        enc = encode_ner(tok, pick_rows(cols, how), label2id, max_length, tok.eos_token_id, "last").enc
        padded = sum(
            b["input_ids"].numel() for e in range(epochs) for b in batches(enc, bs, tok.pad_token_id, random.Random(e))
        )  # fmt: skip
        # the least any batching pads: one sort of the whole split by length, then batches
        lengths = sorted(map(len, enc.ids))
        one_sort = epochs * sum(
            max(lengths[s : s + bs]) * len(lengths[s : s + bs]) for s in range(0, len(lengths), bs)
        )
        runs[label] = (enc, bs, padded, epochs * sum(lengths), one_sort)
    base = runs[SETTINGS[0][0]][2]
    print("padding: padded over unpadded tokens; one sort: what one sort of the split would save of them")
    print(
        f"{'setting':42} {'sentences':>9} {'padded tokens':>14} {'ratio':>6} {'padding':>8} {'one sort':>8}"
    )
    for label, (enc, _, padded, unpadded, one_sort) in runs.items():
        print(
            f"{label:42} {len(enc.ids):9,} {padded:14,} {padded / base:6.3f} {padded / unpadded - 1:+8.1%} "
            f"{one_sort / padded - 1:+8.1%}"
        )

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    secs: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds):
        for label, (enc, bs, *_) in runs.items():
            it = batches(enc, bs, tok.pad_token_id, random.Random(100 + r))
            for _ in range(args.steps):
                b = next(it)
                t = time.perf_counter()
                loss = token_loss(model, b)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                secs[label].append(1e3 * (time.perf_counter() - t) / b["input_ids"].numel())
    print(
        f"\nmedian seconds per 1,000 padded tokens ({args.rounds} rounds x {args.steps} steps, settings in turn):"
    )
    for label, v in secs.items():
        print(f"{label:42} {statistics.median(v):8.2f}")


if __name__ == "__main__":
    main()

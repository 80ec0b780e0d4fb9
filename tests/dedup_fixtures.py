"""Made corpora for the dedup tests: distinct texts, injected exact and near copies, a task leak."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.io import ShardWriter

VOCAB = [f"w{i}" for i in range(3000)]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def _edit(text: str, rng: random.Random, changes: int) -> str:
    toks = text.split()
    for i in rng.sample(range(len(toks)), changes):
        toks[i] = rng.choice(VOCAB)
    return " ".join(toks)


def made_corpus(seed: int = 0, distinct: int = 60) -> tuple[list[str], list[str]]:
    """Texts with exact copies, near copies (3 of 200 words changed) and short ones, shuffled; and
    one task text that copies 20 words of one document."""
    rng = random.Random(seed)
    base = [_text(rng, rng.randint(120, 260)) for _ in range(distinct)]
    texts = (
        base + [rng.choice(base) for _ in range(10)] + [_edit(rng.choice(base), rng, 3) for _ in range(12)]
    )
    texts += ["one", "two words", "", "one"]
    rng.shuffle(texts)
    leak = " ".join(texts[5].split()[30:50]) if len(texts[5].split()) > 50 else " ".join(base[0].split()[:20])
    return texts, [leak]


def write_stage_input(root: Path, texts: list[str], task_texts: list[str], shard_docs: int) -> None:
    docs = [
        {"id": f"d{i}", "text": t, "source": f"s{i % 3}", "origin": "made", "license": "CC0", "meta": "{}"}
        for i, t in enumerate(texts)
    ]
    with ShardWriter(root / "clean", shard_docs=shard_docs) as w:
        w.write_many(docs)
    (root / "tasks" / "classify").mkdir(parents=True)
    for split in ("valid", "test"):
        pq.write_table(pa.table({"text": task_texts}), root / "tasks" / "classify" / f"{split}.parquet")

"""Made-up corpora for the tokenizer and pretrain tests: English-like documents in the shared
schema, written as dedup's shards."""

from __future__ import annotations

import random
from pathlib import Path

from stages.common.io import ShardWriter

WORDS = (  # noqa: SIM905 - a sentence reads better than a column of words
    "the cat sat on a mat while the dog ran after the red ball in a green park and "
    "a bird sang over the old river near the quiet town where people walked slowly "
    "to the market to buy bread cheese apples and fresh fish every morning"
).split()


def make_docs(n: int, seed: int = 0) -> list[dict[str, str]]:
    """`n` documents of pseudo-random English-like sentences in the shared schema."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize() + "."
            for _ in range(rng.randint(3, 8))
        ]
        docs.append(
            {
                "id": f"doc-{i}",
                "text": " ".join(sentences),
                "source": "test",
                "origin": "inline",
                "license": "CC0",
                "meta": "{}",
            }
        )
    return docs


def write_dedup(dir_: Path, docs: list[dict[str, str]], shard_docs: int = 50) -> Path:
    """`docs` as dedup writes them: parquet shards of `shard_docs` documents in `dir_`."""
    with ShardWriter(dir_, shard_docs) as w:
        w.write_many(docs)
    return dir_

"""Plant the privacy canaries of `collect.canaries` (see stages/common/canary.py) in the
collected documents, so that evaluate can measure how much the model memorised them.

Each of `count` canaries goes into `insertions` distinct real documents drawn with the seed
from all collected ones; a chosen document gets exactly one canary, as its own sentence at a
seeded paragraph boundary. Copies inside different real documents stay apart under exact and
near dedup, as a secret repeated across a real corpus would. A planted document keeps its id
(so it still traces back to its source record) and lists the canary numbers in meta
"canaries". Only the shards holding a chosen document are rewritten.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from stages.collect.docs import encode_meta
from stages.common.canary import CanaryParams, make_canaries
from stages.common.errors import DataError
from stages.common.io import shard_paths

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def choose_documents(n_docs: int, count: int, insertions: int, seed: int) -> dict[int, int]:
    """Document index -> canary number for `count * insertions` distinct documents."""
    need = count * insertions
    if need > n_docs:
        raise DataError(
            f"collect.canaries: {count} canaries x {insertions} insertions need {need} distinct "
            f"documents but only {n_docs} were collected; lower count or insertions"
        )
    picks = random.Random(f"canary-documents/{seed}").sample(range(n_docs), need)
    return {doc: j // insertions for j, doc in enumerate(picks)}


def insert_sentence(text: str, sentence: str, rng: random.Random) -> str:
    """`text` with `sentence` as a paragraph of its own after a randomly chosen paragraph."""
    ends = [m.start() for m in _PARAGRAPH_BREAK.finditer(text)] + [len(text.rstrip())]
    at = rng.choice(ends)
    return f"{text[:at]}\n\n{sentence}{text[at:]}"


def plant_canaries(shard_dir: Path, cfg: CanaryParams, seed: int) -> dict[str, Any]:
    """Insert the canaries into the parquet shards in `shard_dir` in place; returns the counts
    for metrics/collect.json (never the secrets)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    counts: dict[str, Any] = {"count": cfg.count, "per_canary": cfg.insertions, "insertions": 0}
    if cfg.count == 0:
        return counts
    paths = shard_paths(shard_dir)
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in paths]
    chosen = choose_documents(sum(sizes), cfg.count, cfg.insertions, seed)
    canaries = make_canaries(cfg.count, cfg.digits, cfg.template, seed)
    rng = random.Random(f"canary-positions/{seed}")
    by_source: Counter[str] = Counter()
    added = 0
    first = 0
    for path, size in zip(paths, sizes):
        rows = sorted(i - first for i in chosen if first <= i < first + size)
        if rows:
            table = pq.read_table(path)
            docs = table.to_pylist()
            for r in rows:
                doc, k = docs[r], chosen[first + r]
                before = len(doc["text"])
                doc["text"] = insert_sentence(doc["text"], canaries[k].text, rng)
                doc["meta"] = encode_meta({**json.loads(doc["meta"]), "canaries": [k]})
                by_source[doc["source"]] += 1
                added += len(doc["text"]) - before
            pq.write_table(pa.Table.from_pylist(docs, schema=table.schema), path, compression="zstd")
        first += size
    counts |= {"insertions": len(chosen), "characters": added, "by_source": dict(sorted(by_source.items()))}
    return counts

"""Throughput of the dedup filters on a directory of document parquet shards.

    python benchmarks/dedup_throughput.py PARQUET_DIR [--repeats 3] [--num-proc 1]

Reads the `text` column of PARQUET_DIR/part-*.parquet (e.g. data/clean) and times, each
`--repeats` times, with the `dedup` params of params.yaml (or defaults) for n-gram
size, permutations and thresholds:
- exact: text-dedup exact_hash;
- near-minhash: text-dedup MinHash-LSH;
- near-containment: datasketch LSH Ensemble plus exact containment checks;
- decontaminate: n-gram matching against an index built from 200 of the documents
  (so hits exist), excluding index building.
Prints docs/s and MB/s (UTF-8 bytes of text in), the median of the repeats, and how
many documents each removed. text-dedup's first call pays its import (~2 s), so a
warm-up run precedes the timed ones.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")

from stages.common.io import iter_docs  # noqa: E402
from stages.common.params import default_params
from stages.dedup.config import DedupParams  # noqa: E402

SEED = 1337


def load_params() -> DedupParams:
    from stages.common.params import PARAMS_FILE, load_section

    return load_section("dedup") if PARAMS_FILE.exists() else default_params("dedup")


def filters(cfg: DedupParams, texts: list[str], num_proc: int) -> dict[str, Callable[[], int]]:
    """Name -> a call that runs one filter on all texts and returns how many it removes."""
    from dataclasses import replace

    from stages.dedup.containment import containment_near
    from stages.dedup.decontam import TaskIndex
    from stages.dedup.textdedup import exact_keep, minhash_near

    rows = list(range(len(texts)))
    minhash = replace(cfg.near, method="minhash")
    contain = replace(cfg.near, method="containment")
    step = max(1, len(texts) // 200)
    index = TaskIndex(texts[::step], cfg.decontaminate)
    return {
        "exact": lambda: len(rows) - len(exact_keep(rows, texts, num_proc)),
        "near-minhash": lambda: len(rows) - len(minhash_near(rows, texts, minhash, SEED, num_proc).kept),
        "near-containment": lambda: len(rows) - len(containment_near(rows, texts, contain, SEED).kept),
        "decontaminate": lambda: sum(index.match(t) is not None for t in texts),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parquet_dir", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-proc", type=int, default=1, help="text-dedup processes (exact, minhash)")
    args = ap.parse_args()

    cfg = load_params()
    texts = [d["text"] for d in iter_docs(args.parquet_dir, columns=["text"])]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"{args.parquet_dir}: {len(texts)} documents, {mb:.1f} MB; ngram={cfg.near.ngram} "
        f"num_perm={cfg.near.num_perm} threshold={cfg.near.threshold} num_proc={args.num_proc}, "
        f"median of {args.repeats}"
    )
    print(f"{'filter':<18} {'docs/s':>9} {'MB/s':>7} {'removed':>8}")
    for name, fn in filters(cfg, texts, args.num_proc).items():
        removed = fn()  # warm-up: imports, first-call caches
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        secs = statistics.median(times)
        print(f"{name:<18} {len(texts) / secs:>9.0f} {mb / secs:>7.2f} {removed:>8}")


if __name__ == "__main__":
    main()

"""Ray's own overhead against the local engine: start-up, per-job cost, and clean and encode end to end.

    python benchmarks/ray_overhead.py [--raw data/raw] [--dedup data/dedup] [--tokenizer data/tokenizer]
                                      [--workers 2] [--repeats 3] [--skip-clean]

Prints the median of `--repeats` runs of:
- start-up: `ray_session(workers)` entered and left (a local cluster started and shut down);
- per-job cost: `map_jobs` over 1 and 64 jobs that do nothing, on each engine with the session
  already open, so the figures hold Ray Data's per-execution cost (an actor pool) and per-job
  cost (one batch through an actor) without the start-up;
- clean: `run_shards` over the shards of `--raw` with the params.yaml clean section (its steps,
  `--workers` workers), local against ray (start-up included, as a stage run pays it);
- encode: the tokenizer's encoding pass over `--dedup` with the tokenizer in `--tokenizer`.

Point --raw/--dedup/--tokenizer at a tiny run's data (python -m stages.common.compose tiny &&
dvc repro tokenizer, in a copy) for the tiny profile's figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.engine import map_jobs, ray_session  # noqa: E402
from stages.common.io import count_docs, shard_paths  # noqa: E402
from stages.common.params import load_section, load_seed  # noqa: E402


class Noop:
    def __call__(self, job: int) -> int:
        return job


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def startup_and_jobs(workers: int, repeats: int) -> None:
    def start_stop() -> None:
        with ray_session(workers):
            pass

    print(
        f"ray start-up and shutdown (local cluster, {workers} CPUs): {median_time(start_stop, repeats):.2f} s"
    )
    with ray_session(workers):
        for engine in ("local", "ray"):
            t1 = median_time(
                lambda e=engine: list(map_jobs(e, Noop(), range(1), workers=workers, desc="", unit="")),
                repeats,
            )
            t64 = median_time(
                lambda e=engine: list(map_jobs(e, Noop(), range(64), workers=workers, desc="", unit="")),
                repeats,
            )
            print(
                f"{engine:5s}: 1 job {t1 * 1e3:8.1f} ms; 64 jobs {t64 * 1e3:8.1f} ms; per job {(t64 - t1) / 63 * 1e3:6.2f} ms"
            )


def clean(raw: Path, workers: int, repeats: int) -> None:
    from stages.clean.run import run_shards

    cfg = load_section("clean")
    shards = shard_paths(raw)
    docs = count_docs(raw)
    for engine in ("local", "ray"):
        c = replace(cfg, engine=engine, num_proc=workers)

        def once(c=c) -> None:
            with tempfile.TemporaryDirectory() as tmp:
                run_shards(
                    c, [(p.resolve(), Path(tmp) / f"part-{i:05d}.parquet") for i, p in enumerate(shards)]
                )

        t = median_time(once, repeats)
        print(f"clean  {engine:5s}: {len(shards)} shards, {docs} docs: {t:7.2f} s, {docs / t:7.1f} docs/s")


def encode(dedup: Path, tok_dir: Path, workers: int, repeats: int) -> None:
    from tokenizers import Tokenizer

    from stages.tokenizer.run import encode as encode_pass

    cfg = load_section("tokenizer")
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    docs = count_docs(dedup)
    for engine in ("local", "ray"):
        c = replace(cfg, engine=engine, num_proc=workers)

        def once(c=c) -> None:
            with tempfile.TemporaryDirectory() as tmp:
                encode_pass(c, load_seed(), dedup.resolve(), tok, eos, Path(tmp), Counter())

        t = median_time(once, repeats)
        print(
            f"encode {engine:5s}: {len(shard_paths(dedup))} shards, {docs} docs: {t:7.2f} s, {docs / t:7.1f} docs/s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=Path("data/raw"))
    ap.add_argument("--dedup", type=Path, default=Path("data/dedup"))
    ap.add_argument("--tokenizer", type=Path, default=Path("data/tokenizer"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-clean", action="store_true", help="only start-up, per-job cost and encode")
    args = ap.parse_args()
    startup_and_jobs(args.workers, args.repeats)
    encode(args.dedup, args.tokenizer, args.workers, args.repeats)
    if not args.skip_clean:
        clean(args.raw, args.workers, args.repeats)


if __name__ == "__main__":
    main()

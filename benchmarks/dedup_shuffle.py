"""Dedup's shuffle passes.

Scan: `scan_shard` on the first shards of data/clean, CPU seconds against the partition
count, for this checkout's stages/ and optionally an older one's (--stages), the runs
interleaved so both see the same load. Decontamination is off (it does not depend on the
partition count); exact hashes and MinHash band keys are written as the stage writes them.

    mkdir -p /tmp/rev-f921d49 && git archive f921d49 stages params.yaml sources.yaml | tar -x -C /tmp/rev-f921d49
    python benchmarks/dedup_shuffle.py --stages /tmp/rev-f921d49 --partitions 9 900 --shards 2 --reps 5

Components (--components): the union-find against large-star/small-star (stages/dedup/star.py,
`engine: local`, one process) on the default corpus's MinHash candidates (the stage's scan and
group passes, run once) and on a made graph of --nodes rows: clusters of 2 or more rows linked
as random trees, one long path and one hub. CPU s (medians, the two interleaved), rounds, and
the peak heap of each (tracemalloc, which counts numpy's buffers too): the union-find's whole
call, star's largest step (what one worker holds) and its whole call (this process ran every
step and built the clusters).

    python benchmarks/dedup_shuffle.py --components --nodes 1000000 --star-partitions 16 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from stages.common.io import shard_paths
from stages.common.params import load_section, load_seed
from stages.dedup.minhash import Signer
from stages.dedup.outofcore import Shared, ShardTask, scan_shard
cfg = load_section("dedup")
paths = shard_paths(Path(sys.argv[4]))[: int(sys.argv[3])]
with tempfile.TemporaryDirectory(prefix="dedup-shuffle-bench-") as work:
    shared = Shared(work, int(sys.argv[2]), True, None, Signer(cfg.near, load_seed()))
    first, files = 0, 0
    t = time.process_time()
    for s, path in enumerate(paths):
        first += scan_shard(shared, ShardTask(s, path, first)).rows
    cpu = time.process_time() - t
    files = sum(1 for p in Path(work).rglob("*") if p.is_file())
print(json.dumps({"cpu": cpu, "files": files, "rows": first}))
"""


def run_once(stages: Path, partitions: int, shards: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(stages),
            str(partitions),
            str(shards),
            str(ROOT / "data" / "clean"),
        ],
        cwd=stages,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PIPELINE_NO_PROGRESS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def corpus_groups() -> list[list[int]]:
    """The default corpus's live MinHash candidate groups, as the stage hands them to `components`."""
    import tempfile
    from dataclasses import replace

    import stages.dedup.run as run
    from stages.common.params import load_section, load_seed

    captured: list[list[int]] = []
    union_find = run.components
    run.components = lambda groups: union_find(captured.extend(groups) or captured)  # type: ignore[assignment]
    cfg = replace(load_section("dedup"), components="union_find", num_proc=1)
    with tempfile.TemporaryDirectory(prefix="dedup-star-bench-") as work:
        run.find_duplicates(ROOT / "data" / "clean", ROOT / "data" / "tasks", cfg, load_seed(), work)
    run.components = union_find
    return captured


def made_groups(nodes: int, seed: int = 0) -> list[list[int]]:
    """Pairs over `nodes` rows: clusters of 1 + geometric sizes (mean 3) linked as random recursive
    trees, one path of 1% of the rows and one hub of 5%, row ids shuffled."""
    import numpy as np

    rng = np.random.default_rng(seed)
    path, hub = nodes // 100, nodes // 20
    sizes = [path, hub]
    left = nodes - path - hub
    while left > 0:
        s = 1 + rng.geometric(1 / 2, size=max(1, left // 3))
        s = s[np.cumsum(s) <= left]
        sizes += s.tolist() if len(s) else [left]  # the last few rows: one cluster
        left = nodes - sum(sizes)
    ids = rng.permutation(nodes)
    child, parent, at = [], [], 0
    for k, size in enumerate(sizes):
        j = np.arange(1, size)
        up = (
            j - 1 if k == 0 else (np.zeros_like(j) if k == 1 else (rng.random(size - 1) * j).astype(np.int64))
        )
        child.append(ids[at + j])
        parent.append(ids[at + up])
        at += size
    a, b = np.concatenate(child), np.concatenate(parent)
    return np.sort(np.stack([a, b], axis=1), axis=1).tolist()


def bench_components(name: str, groups: list[list[int]], partitions: int, reps: int) -> None:
    import tempfile
    import time
    import tracemalloc

    import stages.dedup.star as star
    from stages.dedup.shuffle import components

    def run_star(work: str) -> star.StarRun:
        return star.star_components(
            [groups[i::partitions] for i in range(partitions)], work, partitions, engine="local", workers=1
        )

    cpu: dict[str, list[float]] = {"union_find": [], "star": []}
    for _ in range(reps):
        t = time.process_time()
        expect = components(groups)
        cpu["union_find"].append(time.process_time() - t)
        with tempfile.TemporaryDirectory(prefix="dedup-star-bench-") as work:
            t = time.process_time()
            got = run_star(work)
            cpu["star"].append(time.process_time() - t)
        assert got.clusters == expect, "star and union-find disagree"
    tracemalloc.start()
    components(groups)
    uf_peak = tracemalloc.get_traced_memory()[1]
    step_peaks: list[int] = []
    step = star.run_step

    def measured(job: star.Step, part: int) -> star.StepResult:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = step(job, part)
        step_peaks.append(tracemalloc.get_traced_memory()[1] - base)
        return out

    star.run_step = measured  # type: ignore[assignment]
    tracemalloc.reset_peak()
    with tempfile.TemporaryDirectory(prefix="dedup-star-bench-") as work:
        base = tracemalloc.get_traced_memory()[0]
        run_star(work)
        # reset_peak inside the steps hides earlier peaks from this figure: take the larger.
        star_peak = max(tracemalloc.get_traced_memory()[1] - base, *step_peaks)
    star.run_step = step
    tracemalloc.stop()
    nodes = len({r for g in groups for r in g})
    mb = 1 / 2**20
    print(
        f"{name}: {len(groups):,} groups, {nodes:,} rows, {len(expect):,} components, "
        f"largest {max(map(len, expect), default=0):,}; star: {got.rounds} rounds, P={partitions}"
    )
    print(
        f"  union-find  CPU s median {statistics.median(cpu['union_find']):7.2f} "
        f"{[round(x, 2) for x in cpu['union_find']]}  peak {uf_peak * mb:8.2f} MB"
    )
    print(
        f"  star        CPU s median {statistics.median(cpu['star']):7.2f} "
        f"{[round(x, 2) for x in cpu['star']]}  peak {star_peak * mb:8.2f} MB whole call, "
        f"{max(step_peaks) * mb:8.2f} MB largest step"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stages", type=Path, help="an older revision's extracted stages/ and params.yaml, beside"
    )
    ap.add_argument("--partitions", type=int, nargs="+", default=[9, 900])
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--components", action="store_true", help="union-find against large-star/small-star")
    ap.add_argument("--nodes", type=int, default=1_000_000, help="rows of the made graph (--components)")
    ap.add_argument("--star-partitions", type=int, default=16, help="edge partitions (--components)")
    args = ap.parse_args()
    if args.components:
        os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")
        sys.path.insert(0, str(ROOT))
        os.chdir(ROOT)
        bench_components("default corpus", corpus_groups(), args.star_partitions, args.reps)
        bench_components("made graph", made_groups(args.nodes), args.star_partitions, args.reps)
        return
    revs = {"this": ROOT} | ({"older": args.stages.resolve()} if args.stages else {})
    cpu: dict[tuple[str, int], list[float]] = {}
    files: dict[tuple[str, int], int] = {}
    for _ in range(args.reps):
        for name, stages in revs.items():
            for p in args.partitions:
                r = run_once(stages, p, args.shards)
                cpu.setdefault((name, p), []).append(r["cpu"])
                files[(name, p)] = r["files"]
    print(
        f"{'revision':>8} {'P':>5} {'files':>6} {'CPU s median':>12}  (of {args.reps}, {args.shards} shards)"
    )
    for (name, p), xs in sorted(cpu.items()):
        print(
            f"{name:>8} {p:>5} {files[(name, p)]:>6} {statistics.median(xs):>12.2f}  {[round(x, 2) for x in xs]}"
        )


if __name__ == "__main__":
    main()

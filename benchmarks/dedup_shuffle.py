"""Dedup's scan pass (`scan_shard`) on the first shards of data/clean: CPU seconds against the
partition count, for this checkout's stages/ and optionally an older one's (--stages), the
runs interleaved so both see the same load. Decontamination is off (it does not depend on
the partition count); exact hashes and MinHash band keys are written as the stage writes them.

    mkdir -p /tmp/rev-f921d49 && git archive f921d49 stages params.yaml sources.yaml | tar -x -C /tmp/rev-f921d49
    python benchmarks/dedup_shuffle.py --stages /tmp/rev-f921d49 --partitions 9 900 --shards 2 --reps 5
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stages", type=Path, help="an older revision's extracted stages/ and params.yaml, beside"
    )
    ap.add_argument("--partitions", type=int, nargs="+", default=[9, 900])
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
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

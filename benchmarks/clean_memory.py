"""Peak memory of the clean stage on the default corpus and on one ten times its size.

    python benchmarks/clean_memory.py [RAW_DIR] [--scale 10] [--shards N] [--keep DIR]

Builds, in a temporary directory, a 1x corpus (a copy of RAW_DIR, default data/raw, or of
its first N shards with `--shards`, for a quicker run on a busy machine) and
a `--scale`x one (each raw shard written `--scale` times, every copy with its ids
suffixed "~k" so that the documents are distinct records, as a bigger crawl would be).
Each gets this repository's params.yaml and runs the real stage, `python -m stages.clean`,
with the working directory set there, so nothing in the repository is touched. Each run
is timed by GNU `/usr/bin/time -v`; its "Maximum resident set size" is the largest single
process of the stage's tree. A sampler also adds up the RSS of the whole tree (parent and
`clean.num_proc` workers) every 0.2 s, which is what the machine has to hold. Prints both
peaks for each scale and the ratio; bounded memory means a ratio near 1, not near 10.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_corpus(raw: Path, dst: Path, scale: int, n_shards: int = 0, num_proc: int = 0) -> tuple[int, int]:
    """Write `scale` copies of every shard of `raw` (the first `n_shards` if > 0) into
    dst/data/raw, and params.yaml (with clean.num_proc set if `num_proc` > 0); return
    (docs, bytes)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import yaml

    out = dst / "data" / "raw"
    out.mkdir(parents=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if num_proc:
        params["clean"]["num_proc"] = num_proc
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    shards = sorted(raw.glob("part-*.parquet"))[: n_shards or None]
    if not shards:
        raise SystemExit(f"{raw}: no part-*.parquet shards; run the collect stage first (dvc repro collect)")
    n = docs = 0
    for k in range(scale):
        for shard in shards:
            table = pq.read_table(shard)
            if k:
                ids = pc.binary_join_element_wise(table["id"], pa.scalar(f"~{k}"), "")
                table = table.set_column(table.schema.get_field_index("id"), "id", ids)
            pq.write_table(table, out / f"part-{n:05d}.parquet", compression="zstd")
            n += 1
            docs += table.num_rows
    return docs, sum(p.stat().st_size for p in out.iterdir())


def tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_clean(workdir: Path) -> tuple[float, float, float]:
    """Run the stage in `workdir`; return (max single-process RSS MB, peak tree RSS MB, wall s)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PIPELINE_NO_PROGRESS="1")
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "stages.clean"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"clean stage failed in {workdir}:\n{err[-2000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    if not m:
        raise SystemExit(f"/usr/bin/time printed no peak RSS:\n{err[-500:]}")
    return int(m.group(1)) / 1024, peak / 2**20, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", nargs="?", default=str(ROOT / "data" / "raw"))
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--shards", type=int, default=0, help="use only the first N raw shards (0: all)")
    ap.add_argument(
        "--num-proc",
        type=int,
        default=0,
        help="clean.num_proc for both runs (0: params.yaml's); "
        "the stage uses at most one process per shard, so set it with --shards",
    )
    ap.add_argument("--keep", help="build the corpora under DIR and leave them there")
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("/usr/bin/time not found; install GNU time (apt-get install time)")

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="clean-memory-"))
    rows = []
    try:
        for scale in (1, args.scale):
            work = base / f"x{scale}"
            docs, size = build_corpus(Path(args.raw), work, scale, args.shards, args.num_proc)
            one, tree, wall = run_clean(work)
            rows.append((scale, docs, size, one, tree, wall))
            print(
                f"{scale:>3}x: {docs:>7} docs, {size / 1e6:>7.1f} MB parquet: max process RSS {one:>7.0f} MB, "
                f"peak tree RSS {tree:>7.0f} MB, {wall:>6.0f} s wall",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    (_, _, _, one1, tree1, _), (_, _, _, one_n, tree_n, _) = rows
    print(f"ratio {args.scale}x / 1x: max process RSS {one_n / one1:.2f}, peak tree RSS {tree_n / tree1:.2f}")


if __name__ == "__main__":
    main()

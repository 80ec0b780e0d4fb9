"""Accuracy, macro-F1 and seeded bootstrap confidence intervals.

Point estimates come from scikit-learn. The bootstrap recomputes the same two figures
for thousands of resamples at once from confusion counts, with the F1 convention of
scikit-learn's `f1_score(average="macro", zero_division=0)` over a fixed label set.
"""

from __future__ import annotations

import numpy as np


def point_scores(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "acc": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }


def _scores_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro-F1 per row of per-class counts (rows = resamples, cols = labels)."""
    acc = tp.sum(axis=1) / n
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom, dtype=np.float64), where=denom > 0)
    return acc, f1.mean(axis=1)


def _count(cls: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """Per-resample class counts: one bincount, cell (resample r, class c) is bin r * k + c."""
    m = cls.shape[0]
    bins = (np.arange(m)[:, None] * k + cls).ravel()
    return np.bincount(bins, weights=weight.ravel(), minlength=m * k).reshape(m, k)


def bootstrap_ci(
    y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray, n_resamples: int, ci: float, seed: int
) -> dict[str, float]:
    """Percentile bootstrap interval of accuracy and macro-F1: {acc_ci_low, acc_ci_high, ...}."""
    n = len(y_true)
    rng = np.random.default_rng(seed)
    index = {int(lab): i for i, lab in enumerate(labels)}
    k = len(labels)
    # Labels outside `labels` still count as errors; they map to an extra, unscored column.
    t = np.array([index.get(int(v), k) for v in y_true])
    p = np.array([index.get(int(v), k) for v in y_pred])
    acc_all, f1_all = [], []
    for start in range(0, n_resamples, 256):  # chunks bound memory to 256 x n indices
        m = min(256, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        ti, pi = t[idx], p[idx]
        hit = ti == pi
        tp, fp, fn = _count(ti, hit, k + 1), _count(pi, ~hit, k + 1), _count(ti, ~hit, k + 1)
        acc, f1 = _scores_from_counts(tp[:, :k], fp[:, :k], fn[:, :k], n)
        acc_all.append(acc)
        f1_all.append(f1)
    acc, f1 = np.concatenate(acc_all), np.concatenate(f1_all)
    lo, hi = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    return {
        "acc_ci_low": float(np.percentile(acc, lo)),
        "acc_ci_high": float(np.percentile(acc, hi)),
        "macro_f1_ci_low": float(np.percentile(f1, lo)),
        "macro_f1_ci_high": float(np.percentile(f1, hi)),
    }

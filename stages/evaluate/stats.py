"""Accuracy, macro-F1 and seeded bootstrap confidence intervals.

Point estimates come from scikit-learn. The bootstrap recomputes the same two figures
for thousands of resamples at once from confusion counts, with the F1 convention of
scikit-learn's `f1_score(average="macro", zero_division=0)` over a fixed label set.
Every interval with the same seed and test size draws the same resampled indices, so the
difference of two systems (`paired_diff_ci`) is taken on the very resamples that gave
each system's own interval.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

RESAMPLE_CHUNK = 256  # resamples drawn at once; bounds memory to RESAMPLE_CHUNK x n indices


def resamples(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Seeded bootstrap indices, [m, n] chunks whose rows are the resamples of 0..n-1."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, RESAMPLE_CHUNK):
        yield rng.integers(0, n, size=(min(RESAMPLE_CHUNK, n_resamples - start), n))


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
    index = {int(lab): i for i, lab in enumerate(labels)}
    k = len(labels)
    # Labels outside `labels` still count as errors; they map to an extra, unscored column.
    t = np.array([index.get(int(v), k) for v in y_true])
    p = np.array([index.get(int(v), k) for v in y_pred])
    acc_all, f1_all = [], []
    for idx in resamples(n, n_resamples, seed):
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


def paired_diff_ci(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_resamples: int, ci: float, seed: int
) -> dict[str, float]:
    """Accuracy of `pred_a` minus that of `pred_b`, with a paired percentile bootstrap interval.

    Both systems are scored on the same resampled indices (those of `bootstrap_ci` with this
    seed), so the interval reflects only where the two disagree; {diff, ci_low, ci_high,
    p_le_0}, the last the share of resamples where a does not beat b."""
    if not len(y_true) == len(pred_a) == len(pred_b):
        raise ValueError(f"paired_diff_ci: {len(y_true)} labels, {len(pred_a)} and {len(pred_b)} predictions")
    # +1 where only a is right, -1 where only b is: the mean over a resample is the difference.
    delta = (pred_a == y_true).astype(np.int8) - (pred_b == y_true).astype(np.int8)
    diffs = np.concatenate([delta[idx].mean(axis=1) for idx in resamples(len(delta), n_resamples, seed)])
    lo, hi = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    return {
        "diff": float(delta.mean()),
        "ci_low": float(np.percentile(diffs, lo)),
        "ci_high": float(np.percentile(diffs, hi)),
        "p_le_0": float(np.mean(diffs <= 0)),
    }

"""PNG plots for the report: training curves, the data funnel, confusion matrices, few-shot
accuracy over k, and grouped bars (clean vs robust accuracy, NER F1 per type)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from stages.common.na import NA


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines or servers
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, out: Path) -> bool:
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def curves_plot(run: str, curves: dict[str, list[tuple[float, float]]], out: Path) -> bool:
    """Loss-like curves of one run on one chart (other curves are left to `dvc plots`)."""
    lossy = {k: v for k, v in curves.items() if "loss" in k} or curves
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, points in sorted(lossy.items()):
        xs, ys = zip(*points)
        ax.plot(xs, ys, label=name, marker="o" if len(points) < 20 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss" if "loss" in " ".join(lossy) else "value")
    ax.set_title(f"{run}: training curves")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, out)


def funnel_plot(rows: list[dict[str, Any]], out: Path) -> bool:
    """Documents kept after each stage, as bars; False when no stage recorded a count."""
    known = [(r["stage"], r["documents"]) for r in rows if r["documents"] is not None]
    if not known:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names, values = zip(*known)
    bars = ax.bar(names, values, color="#4c78a8")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values])
    ax.set_ylabel("documents")
    ax.set_title("data funnel")
    return _save(plt, fig, out)


def confusion_plot(task: str, labels: list[str], matrix: list[list[int]], out: Path) -> bool:
    import numpy as np

    m = np.asarray(matrix)
    if m.size == 0:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.1 * len(labels) + 2))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                color="white" if m[i, j] > m.max() / 2 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"{task}: fine-tuned model on test")
    return _save(plt, fig, out)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fewshot_plot(curves: dict[str, dict[int, float]], baselines: dict[str, Any], out: Path) -> bool:
    """Few-shot accuracy over k, one line per curve ({"model (acc)": {k: accuracy}}), with each
    baseline's ({label: accuracy}) as a horizontal line."""
    if not any(curves.values()):
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, points in sorted(curves.items()):
        ks = sorted(points)
        ax.plot(ks, [points[k] for k in ks], marker="o", label=name)
    for (name, value), style in zip(baselines.items(), itertools.cycle((":", "--", "-."))):
        if _number(value):
            ax.axhline(value, color="grey", linestyle=style, label=name)
    ax.set_xticks(sorted({k for points in curves.values() for k in points}))
    ax.set_xlabel("k (demonstrations in the prompt)")
    ax.set_ylabel("accuracy")
    ax.set_title("few-shot in-context accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, out)


def grouped_bars(groups: dict[str, dict[str, Any]], ylabel: str, title: str, out: Path) -> bool:
    """One cluster of bars per group, one bar per series; n/a values leave a labelled gap.
    False when no value is a number."""
    series = list(dict.fromkeys(s for values in groups.values() for s in values))
    numbers = [v for values in groups.values() for v in values.values() if _number(v)]
    if not numbers:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) + 2), 3.8))
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        values = [groups[group].get(name) for group in groups]
        heights = [v if _number(v) else 0 for v in values]
        bars = ax.bar(xs, heights, width, label=name)
        ax.bar_label(bars, labels=[f"{v:.2f}" if _number(v) else NA for v in values], fontsize=8)
    ax.set_xticks(range(len(groups)), list(groups), rotation=10 if len(groups) > 4 else 0)
    ax.set_ylim(0, max(max(numbers), 0) * 1.25 or 1)  # headroom for the legend above the bars
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", ncol=len(series))
    return _save(plt, fig, out)

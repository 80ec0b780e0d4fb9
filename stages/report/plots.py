"""PNG plots for the report: training curves, the data funnel, confusion matrices."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines or servers
    import matplotlib.pyplot as plt

    return plt


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
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


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
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


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
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True

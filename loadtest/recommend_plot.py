"""The PNG of bench_recommend.py cora: recall@20 per method by history size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BUCKETS = ((2, 2), (3, 3), (4, 5), (6, 9), (10, 10_000))


def plot_recall_by_history(
    ranks: dict[str, list[int | None]], sizes: np.ndarray, path: Path, title: str
) -> Path:
    """Grouped bars: recall@20 of each method within each history-size bucket."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        f"{lo}" if lo == hi else f"{lo}-{hi}" if hi < 10_000 else f">={lo}" for lo, hi in BUCKETS
    ]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    width = 0.8 / len(ranks)
    for m, (name, found) in enumerate(ranks.items()):
        hits = np.array([r is not None and r < 20 for r in found])
        values = [hits[(sizes >= lo) & (sizes <= hi)].mean() for lo, hi in BUCKETS]
        ax.bar(np.arange(len(BUCKETS)) + m * width, values, width, label=name)
    counts = [int(((sizes >= lo) & (sizes <= hi)).sum()) for lo, hi in BUCKETS]
    ax.set_xticks(np.arange(len(BUCKETS)) + width * (len(ranks) - 1) / 2)
    ax.set_xticklabels([f"{lab}\n(n={c})" for lab, c in zip(labels, counts, strict=True)])
    ax.set_xlabel("history size (linked papers minus the held-out one)")
    ax.set_ylabel("recall@20 of the held-out link")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path

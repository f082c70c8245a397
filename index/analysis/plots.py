"""PNG charts of insertion-order reports and rank sweeps (matplotlib, Agg; no pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .order_report import OrderReport
from .recall import RankSweep


def _figure(width: float, height: float) -> Any:
    """Return a matplotlib Figure bound to the Agg canvas (no global backend switch)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _order_stats(report: OrderReport, library: str, order: str) -> tuple[list[float], list[float]]:
    """Return mean and std recall of one (library, order) for each ef of the report."""
    by_ef = {r.ef: r for r in report.results if r.library == library and r.order == order}
    return (
        [by_ef[ef].recall_mean for ef in report.ef_search],
        [by_ef[ef].recall_std for ef in report.ef_search],
    )


def _order_panel(ax: Any, report: OrderReport, library: str) -> None:
    """Draw one library's grouped bars: one group per ef, one bar per order."""
    x = np.arange(len(report.ef_search))
    width = 0.8 / len(report.orders)
    for j, order in enumerate(report.orders):
        means, stds = _order_stats(report, library, order)
        offset = (j - (len(report.orders) - 1) / 2) * width
        bars = ax.bar(x + offset, means, width * 0.95, yerr=stds, capsize=3, color=f"C{j}")
        # upright past four bars a group: side by side, the labels ran into each other
        turn = 90 if len(report.orders) > 4 else 0
        ax.bar_label(bars, [f"{m:.3f}" for m in means], padding=2, fontsize=8, rotation=turn)
    best = report.recommended_by_library.get(library, "")
    ax.set_title(f"{library} (best at ef={report.ef_search[0]}: {best})", fontsize=10)
    ax.set_xticks(x, [f"ef={ef}" for ef in report.ef_search])
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def plot_order_report(report: OrderReport, path: str | Path) -> Path:
    """Write a PNG of recall@k per insertion order: one panel per library, bars grouped by ef."""
    panels, bars = len(report.libraries), len(report.orders) * len(report.ef_search)
    fig = _figure(max(6.0, 4.2 * panels * max(1.0, bars / 8)), 4.8 + 0.3 * (bars > 8))
    axes = np.atleast_1d(fig.subplots(1, panels, sharey=True))
    for ax, library in zip(axes, report.libraries, strict=True):
        _order_panel(ax, report, library)
    lows = [r.recall_mean - r.recall_std for r in report.results]
    bottom = max(0.0, min(lows) - 0.3 * (1.0 - min(lows)) - 0.005)
    axes[0].set_ylim(bottom, 1.0 + 0.12 * (1.0 - bottom))
    note = " (axis does not start at 0)" if bottom > 0 else ""
    axes[0].set_ylabel(f"recall@{report.k} vs exact kNN{note}")
    from matplotlib.patches import Patch

    handles = [
        Patch(color=f"C{j}", label=f"{o} (recommended)" if o == report.recommended else o)
        for j, o in enumerate(report.orders)
    ]
    # at most three a row: six names in one ran off both edges
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3))
    data = report.label or "unnamed data"
    fig.suptitle(
        f"HNSW recall@{report.k} by insertion order — {data}\n"
        f"n={report.n:,}, d={report.dim}, {report.n_queries} queries, {report.metric}, "
        f"M={report.M}, efC={report.ef_construction}, seeds {report.seeds}; "
        "bars: mean, whiskers: ±1 sd",
        fontsize=10,
    )
    fig.savefig(path, format="png")
    return Path(path)


def plot_rank_sweep(sweep: RankSweep, path: str | Path) -> Path:
    """Write a PNG of recall@k against subspace rank, one line per ef."""
    fig = _figure(7.0, 4.6)
    ax = fig.subplots()
    ranks = sorted({p.rank for p in sweep.points})
    efs = sorted({p.ef for p in sweep.points})
    for j, ef in enumerate(efs):
        recalls = [sweep.recall(r, ef) for r in ranks]
        ax.plot(ranks, recalls, marker="o", color=f"C{j}", label=f"ef={ef}")
        for r, v in zip(ranks, recalls, strict=True):
            ax.annotate(
                f"{v:.3f}",
                (r, v),
                textcoords="offset points",
                xytext=(0, 6) if j == len(efs) - 1 else (0, -13),
                ha="center",
                fontsize=8,
                color=f"C{j}",
            )
    twonn = {p.rank: p.twonn for p in sweep.points}
    ax.set_xscale("log", base=2)
    ax.set_xticks(ranks, [f"{r}\n(TwoNN {twonn[r]:.1f})" for r in ranks])
    ax.set_xlabel("subspace rank r (estimated intrinsic dimension)")
    ax.set_ylabel(f"recall@{sweep.k} vs exact kNN")
    ax.set_ylim(max(0.0, ax.get_ylim()[0] - 0.02), 1.03)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(
        f"HNSW recall falls as intrinsic dimension rises — synthetic rank-r data\n"
        f"{sweep.library}, n={sweep.n:,} in d={sweep.dim}, {sweep.n_queries} queries, "
        f"{sweep.metric}, M={sweep.M}, efC={sweep.ef_construction}",
        fontsize=10,
    )
    fig.savefig(path, format="png")
    return Path(path)

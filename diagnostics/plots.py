"""Plot files of the service's analyses: where they live, and the LID and recall charts.

PNGs go to DATA_DIR/analysis/<collection>/ and are written atomically. The order-comparison
chart lives with the pure code (`index.analysis.plots`); the two here draw dicts the service
builds. matplotlib's Agg canvas, no pyplot state.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from diagnostics.errors import InvalidPlotName, PlotNotFound
from index.catalog import remove_tree

ANALYSIS_DIR = "analysis"
MAX_PLOTS = 100  # per collection: older ones are removed (a plot URL of an old answer may 404)
# our names are "<kind>-<12 hex>.png"; the bound keeps a name under the file system's 255 bytes
PLOT_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}\.png")
SERVED_PLOT = re.compile(r"[a-z_-]+-[0-9a-f]{12}\.png")  # what plot_path names: pruned, no other


def plot_path(
    data_dir: Path, collection: str, kind: str, request: BaseModel, store_id: str
) -> Path:
    """DATA_DIR/analysis/<collection>/<kind>-<hash of the request>.png (same request, same file);
    `store_id` tells apart the collections a name has had (a late plot of a deleted one never
    takes the name of the new one's)."""
    key = request.model_dump_json() + store_id
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(data_dir) / ANALYSIS_DIR / collection / f"{kind}-{digest}.png"


def plot_file(data_dir: Path, collection: str, filename: str) -> Path:
    """The stored PNG `filename` of a collection; names are plain `[A-Za-z0-9._-]{1,128}.png`."""
    if not PLOT_NAME.fullmatch(filename):
        raise InvalidPlotName(f"invalid plot name {filename!r}", "filename")
    path = Path(data_dir) / ANALYSIS_DIR / collection / filename
    if not path.is_file() or path.is_symlink():  # ours are files: a link may lead anywhere
        raise PlotNotFound(f"no plot {filename!r} for collection {collection!r}", "filename")
    return path


def drop_plots(data_dir: Path, collection: str) -> None:
    """Remove a collection's plots (when it is dropped, and before one of its name is made: the
    old PNGs were served as the new collection's)."""
    remove_tree(Path(data_dir) / ANALYSIS_DIR / collection)  # a linked folder with its target


def write_png(draw: Callable[[Path], Any], png: Path) -> str:
    """Draw the plot in place (write_replacing), then prune the folder's served plots."""
    write_replacing(draw, png)
    _keep_newest(png.parent, MAX_PLOTS)
    return str(png)


def write_replacing(write: Callable[[Path], Any], path: Path) -> None:
    """Write into a temporary file, then rename it into place: readers never see half a file,
    and a link found at `path` is replaced, not written through."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _keep_newest(folder: Path, count: int) -> None:
    """Remove all but the `count` newest served plots: each distinct request draws a file of its
    own, and a read-only key could otherwise fill the disk with them. Only plot_path's names:
    `nestvec analyze --out ~/Pictures` removed the folder's own older PNGs past 100."""
    plots = []
    for path in folder.glob("*.png"):
        if not SERVED_PLOT.fullmatch(path.name):
            continue
        try:
            plots.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # removed meanwhile (a drop, another prune)
            continue
    for _, path in sorted(plots, reverse=True)[count:]:
        path.unlink(missing_ok=True)


def _figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


LID_MARKS = {
    "global MLE": "mle",
    "TwoNN": "twonn",
    "LID mean": "lid_mean",
    "LID median": "lid_median",
}


def plot_lid(lid: np.ndarray, s: dict[str, Any], path: Path, title: str) -> None:
    """Histogram of pointwise LID with the global estimates of summary `s` as vertical lines."""
    fig = _figure(8.0, 4.8)
    ax = fig.subplots()
    shown = lid[np.isfinite(lid) & (lid > 0)]
    ax.hist(shown, bins=int(np.clip(np.sqrt(shown.size), 10, 60)), color="0.78", edgecolor="0.5")
    for j, (name, key) in enumerate(LID_MARKS.items()):
        if s[key] is not None:
            ax.axvline(s[key], color=f"C{j}", lw=2, ls="-:"[j % 2], label=f"{name}: {s[key]:.1f}")
    ax.set_xlabel(f"pointwise local intrinsic dimension (Levina-Bickel MLE, k={s['lid_k']})")
    ax.set_ylabel("points")
    ax.legend(loc="upper right")
    left_out = f"\n{lid.size - shown.size} undefined LID left out" if shown.size < lid.size else ""
    ax.set_title(  # the note on a line of its own: on one, the title ran past the figure
        f"Intrinsic dimension — {title or 'vectors'}\n"
        f"n={s['n']:,} ({s['n_distinct']:,} distinct), d={s['dim']}, "
        f"PCA-99 = {s['pca99']} components, MLE/TwoNN with k={s['k']}{left_out}",
        fontsize=10,
    )
    fig.savefig(path, format="png")


def _autotune_panel(ax: Any, tuned: dict[str, Any], k: int) -> None:
    """Recall against the tuned knob, each point labelled with its queries per second."""
    rows = tuned["table"]
    values = [t["value"] for t in rows]
    ax.plot(values, [t["recall"] for t in rows], marker="o")
    for t in rows:
        ax.annotate(
            f"{t['qps']:,.0f} q/s",
            (t["value"], t["recall"]),
            textcoords="offset points",
            xytext=(0, -13),
            ha="center",
            fontsize=8,
        )
    ax.axhline(tuned["target_recall"], color="C3", ls=":", label="target recall")
    ax.axvline(tuned["value"], color="C2", ls="--", label=f"chosen {tuned['knob']}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()
    ax.margins(x=0.08, y=0.12)
    ax.set_xlabel(f"{tuned['knob']} (tried in increasing order until the target)")
    ax.set_ylabel(f"recall@{k}")
    ax.legend(loc="lower right")
    verdict = "reached" if tuned["reached"] else "NOT reached; best shown"
    ax.set_title(f"autotune: {tuned['knob']}={tuned['value']} ({verdict})", fontsize=10)


def plot_recall(per_query: np.ndarray, r: dict[str, Any], path: Path, title: str) -> None:
    """Per-query recall histogram, plus recall/QPS against the tuned knob when autotuned."""
    tuned, k = r["autotune"], r["k"]
    fig = _figure(11.0 if tuned else 6.5, 4.6)
    axes = np.atleast_1d(fig.subplots(1, 2 if tuned else 1))
    edges = (np.arange(k + 2) - 0.5) / k
    axes[0].hist(per_query[np.isfinite(per_query)], bins=edges, color="C0", edgecolor="white")
    axes[0].set_xlabel(f"recall@{k} of one query (search params: {r['params'] or 'defaults'})")
    axes[0].set_ylabel("queries")
    axes[0].set_title(f"mean recall@{k} = {r['recall']:.3f} over {r['queries']} queries")
    if tuned:
        _autotune_panel(axes[1], tuned, k)
    fig.suptitle(f"Recall against exact kNN — {title}", fontsize=11)
    fig.savefig(path, format="png")

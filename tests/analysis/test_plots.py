"""The PNG charts are written and look like PNGs of a sensible size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.analysis.insertion_order import compare_orders
from index.analysis.plots import plot_order_report, plot_rank_sweep
from index.analysis.recall import sweep_rank

pytest.importorskip("matplotlib")  # plots import it lazily


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_plot_order_report(clustered: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    base, queries = clustered
    rep = compare_orders(
        base[:300], queries[:20], M=6, ef_construction=20, seeds=(0, 1), label="blobs"
    )
    out = plot_order_report(rep, tmp_path / "orders.png")
    width, height = _png_size(out)
    assert width > 600 and height > 400


def test_plot_rank_sweep(tmp_path: Path) -> None:
    sweep = sweep_rank((2, 8), n=400, n_queries=20, dim=16, M=6, ef_construction=20)
    width, height = _png_size(plot_rank_sweep(sweep, tmp_path / "sweep.png"))
    assert width > 600 and height > 400

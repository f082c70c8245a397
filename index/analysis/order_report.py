"""Result dataclasses for insertion-order comparisons and their aggregation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class OrderRun:
    """Recall of one build (library, order, seed) searched at one ef."""

    library: str
    order: str
    seed: int
    ef: int
    recall: float
    build_seconds: float


@dataclass(frozen=True)
class OrderRecall:
    """Recall of one (library, order, ef) over all seeds."""

    library: str
    order: str
    ef: int
    recall_mean: float
    recall_std: float
    seeds: list[int]
    per_seed: list[float]
    build_seconds_mean: float


@dataclass(frozen=True)
class OrderSpread:
    """Best and worst order for one (library, ef) and the gap between them."""

    library: str
    ef: int
    best_order: str
    best_recall: float
    worst_order: str
    worst_recall: float
    spread: float


@dataclass(frozen=True)
class OrderReport:
    """Recall@k of HNSW builds under several insertion orders, libraries and ef values."""

    label: str
    n: int
    dim: int
    n_queries: int
    k: int
    M: int
    ef_construction: int
    metric: str
    libraries: list[str]
    orders: list[str]
    ef_search: list[int]
    seeds: list[int]
    results: list[OrderRecall]
    spreads: list[OrderSpread]
    recommended: str
    recommended_by_library: dict[str, str] = field(default_factory=dict)

    def recall(self, library: str, order: str, ef: int) -> float:
        """Return the mean recall of one (library, order, ef)."""
        for r in self.results:
            if (r.library, r.order, r.ef) == (library, order, ef):
                return r.recall_mean
        raise KeyError((library, order, ef))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def _group(runs: list[OrderRun]) -> list[OrderRecall]:
    """Aggregate runs over seeds, keeping first-seen (library, order, ef) order."""
    keys = list(dict.fromkeys((r.library, r.order, r.ef) for r in runs))
    out = []
    for library, order, ef in keys:
        sel = [r for r in runs if (r.library, r.order, r.ef) == (library, order, ef)]
        recalls = np.array([r.recall for r in sel])
        out.append(
            OrderRecall(
                library=library,
                order=order,
                ef=ef,
                recall_mean=float(recalls.mean()),
                recall_std=float(recalls.std()),
                seeds=[r.seed for r in sel],
                per_seed=[float(r.recall) for r in sel],
                build_seconds_mean=float(np.mean([r.build_seconds for r in sel])),
            )
        )
    return out


def _spread(results: list[OrderRecall], library: str, ef: int) -> OrderSpread:
    """Return the best/worst order of one (library, ef); ties go to the first order listed."""
    sel = [r for r in results if r.library == library and r.ef == ef]
    best = max(sel, key=lambda r: r.recall_mean)
    worst = min(sel, key=lambda r: r.recall_mean)
    return OrderSpread(
        library,
        ef,
        best.order,
        best.recall_mean,
        worst.order,
        worst.recall_mean,
        best.recall_mean - worst.recall_mean,
    )


def _best_order(results: list[OrderRecall], orders: list[str], ef: int, libs: list[str]) -> str:
    """Return the order with the highest recall at ``ef`` averaged over ``libs``."""

    def score(order: str) -> float:
        return float(
            np.mean(
                [
                    r.recall_mean
                    for r in results
                    if r.order == order and r.ef == ef and r.library in libs
                ]
            )
        )

    return max(orders, key=score)


def summarize_runs(runs: list[OrderRun], **meta: Any) -> OrderReport:
    """Return an OrderReport from raw runs; ``meta`` holds the descriptive fields."""
    results = _group(runs)
    libraries = list(dict.fromkeys(r.library for r in runs))
    orders = list(dict.fromkeys(r.order for r in runs))
    ef_search = sorted(set(r.ef for r in runs))
    low = ef_search[0]
    return OrderReport(
        libraries=libraries,
        orders=orders,
        ef_search=ef_search,
        seeds=sorted(set(r.seed for r in runs)),
        results=results,
        spreads=[_spread(results, lib, ef) for lib in libraries for ef in ef_search],
        recommended=_best_order(results, orders, low, libraries),
        recommended_by_library={lib: _best_order(results, orders, low, [lib]) for lib in libraries},
        **meta,
    )

"""Diagnostics of a collection: sample its stored vectors, run `index.analysis`, write a PNG.

No FastAPI here: the REST routes and `nestvec analyze` call the same functions. Results are
JSON-ready dicts; each names the PNG it wrote under "plot". Reading the collection lives in
`diagnostics.data`, plot files and charts in `diagnostics.plots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from diagnostics.data import (
    analysis_metric,
    held_out,
    payload_categories,
    query_matrix,
    sample_vectors,
)
from diagnostics.plots import plot_lid, write_png
from diagnostics.recall import RECALL_QUERIES, recall_report
from diagnostics.requests import (
    InsertionOrderRequest,
    IntrinsicDimensionRequest,
    RebuildRequest,
)
from index import Collection
from index.analysis import (
    InvalidParameterError,
    UnknownOrderError,
    available_orders,
    compare_orders,
    estimate_intrinsic_dimension,
    lid_mle,
)
from index.analysis._validate import check_k
from index.analysis.intrinsic_dimension import neighbour_count
from index.analysis.knn import Progress
from index.analysis.plots import plot_order_report

DEFAULTS = {"k": 20, "lid_k": 100, "order_queries": 200, "recall_queries": RECALL_QUERIES}
NEEDS_INPUTS = {"category": "per-point categories"}  # orders a plain rebuild cannot feed

__all__ = ["recall_report"]  # served from here beside the other reports

Progresses = tuple[Progress | None, Progress | None]  # (estimates pass, pointwise LID pass)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# intrinsic dimension ------------------------------------------------------------------------
def intrinsic_dimension_of(
    vectors: np.ndarray,
    png: Path,
    *,
    k: int | None = None,
    lid_k: int | None = None,
    title: str = "",
    progress: Progresses = (None, None),
) -> tuple[dict[str, Any], np.ndarray]:
    """Global estimates (k) and pointwise LID (lid_k) with a histogram; returns (summary, lid)."""
    n = len(vectors)
    if k is None or lid_k is None:  # defaults: as many neighbours as there are distinct points
        most = neighbour_count(vectors, max(DEFAULTS["k"], DEFAULTS["lid_k"]), "sample")
        k = min(DEFAULTS["k"], most) if k is None else k
        lid_k = min(DEFAULTS["lid_k"], most) if lid_k is None else lid_k
    check_k(lid_k, n, field="lid_k", exclude_self=True)  # fail before the first kNN pass
    est = estimate_intrinsic_dimension(vectors, k, progress=progress[0])
    lid = lid_mle(vectors, lid_k, progress=progress[1], field="lid_k")
    # each distinct point once, as MLE and TwoNN count them (500 copies of one point weighed 500);
    # the row sort only where the estimates found duplicates
    once = lid if est.n_distinct == n else lid[np.unique(vectors, axis=0, return_index=True)[1]]
    finite = once[np.isfinite(once)]
    summary = {
        **{key: _finite(getattr(est, key)) for key in ("mle", "twonn")},
        **{key: getattr(est, key) for key in ("pca99", "n", "n_distinct", "dim", "k")},
        "lid_mean": _finite(finite.mean()) if finite.size else None,
        "lid_median": _finite(np.median(finite)) if finite.size else None,
        "lid_k": lid_k,
    }
    summary["plot"] = write_png(lambda path: plot_lid(lid, summary, path, title), png)
    return summary, lid


def intrinsic_dimension(
    collection: Collection,
    req: IntrinsicDimensionRequest,
    png: Path,
    progress: Progresses = (None, None),
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Estimates on a sample of the collection; returns (summary, sampled labels, their LID)."""
    labels, vectors = sample_vectors(
        collection, req.sample, req.seed, need=3, what="intrinsic dimension"
    )
    title = f"collection {collection.config.name!r}"
    summary, lid = intrinsic_dimension_of(
        vectors,
        png,
        k=req.k,
        lid_k=req.lid_k,
        title=title,
        progress=progress,
    )
    return summary, labels, lid


# insertion order ----------------------------------------------------------------------------
def order_report_of(
    base: np.ndarray,
    queries: np.ndarray,
    req: InsertionOrderRequest,
    png: Path,
    *,
    metric: str,
    categories: np.ndarray | None = None,
    label: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compare HNSW recall under each insertion order; the report as a dict plus the plot."""
    # no field, or one no point has (one group: the "category" order would be the stored one)
    if "category" in req.orders and (categories is None or set(categories) == {"null"}):
        if categories is None and req.category_field is not None:  # plain vectors: no payload
            reason = "reads each point's payload: analyse a collection, not bare vectors"
        else:
            reason = "needs category_field: the payload key holding each point's category"
            if categories is not None:
                reason += f" ({req.category_field!r} is in no payload)"
        raise InvalidParameterError(f"order 'category' {reason}", field="category_field")
    knobs = req.model_dump(include={"k", "M", "ef_construction", "orders", "seeds", "libraries"})
    report = compare_orders(
        base,
        queries,
        **knobs,
        ef_search=req.ef_search,
        n_clusters=req.n_clusters,
        metric=metric,
        categories=categories,
        label=label,
        progress=progress,
    )
    return {**report.to_dict(), "plot": write_png(lambda p: plot_order_report(report, p), png)}


def insertion_order_report(
    collection: Collection, req: InsertionOrderRequest, png: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """The order comparison on a sample of the collection, queries held out or given."""
    need = 2 if req.query_vectors is not None else 3  # a base of 2, plus held-out queries
    labels, vectors = sample_vectors(
        collection, req.sample, req.seed, need=need, what="an insertion-order comparison"
    )
    if req.query_vectors is not None:
        base_labels, base, queries = labels, vectors, query_matrix(collection, req.query_vectors)
    else:
        held = held_out(len(labels), req.queries, DEFAULTS["order_queries"], req.seed)
        base_labels, base, queries = labels[~held], vectors[~held], vectors[held]
    return order_report_of(
        base,
        queries,
        req,
        png,
        metric=analysis_metric(collection.config.metric),
        categories=payload_categories(collection, base_labels, req.category_field),
        label=f"collection {collection.config.name!r}",
        progress=progress,
    )


# rebuild ------------------------------------------------------------------------------------
def rebuild(collection: Collection, req: RebuildRequest) -> dict[str, Any]:
    """Rebuild the collection's index inserting in `req.insertion_order` (None: label order)."""
    order = req.insertion_order
    name, _, field = (order or "").partition(":")  # category:FIELD, as `nestvec ingest` takes
    usable = [n for n in available_orders() if n not in NEEDS_INPUTS] + ["category:FIELD"]
    if order in NEEDS_INPUTS:
        message = f"order {order!r} needs {NEEDS_INPUTS[order]}: name the payload field"
        raise InvalidParameterError(f"{message} (category:FIELD)", field="insertion_order")
    if order is not None and order not in usable and not (name in NEEDS_INPUTS and field):
        message = f"unknown order {order!r}; allowed: {', '.join(usable)}"
        raise UnknownOrderError(message, field="insertion_order")
    collection.rebuild(name if field else order, req.seed, category_field=field or None)
    return {"rebuilt": True, "insertion_order": order, "count": collection.count()}

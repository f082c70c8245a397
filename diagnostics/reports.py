"""Diagnostics of a collection: sample its stored vectors, run `index.analysis`, write a PNG.

No FastAPI here: the REST routes and `nestvec analyze` call the same functions. Results are
JSON-ready dicts; each names the PNG it wrote under "plot". Reading the collection lives in
`diagnostics.data`, plot files and charts in `diagnostics.plots`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from diagnostics.data import (
    analysis_metric,
    held_out,
    label_ids,
    payload_categories,
    query_matrix,
    read_vectors,
    require_points,
    sample_vectors,
)
from diagnostics.plots import plot_lid, plot_recall, write_png
from diagnostics.requests import (
    InsertionOrderRequest,
    IntrinsicDimensionRequest,
    RebuildRequest,
    RecallRequest,
)
from index import Collection
from index.analysis import (
    InvalidParameterError,
    TooFewPointsError,
    UnknownOrderError,
    autotune,
    available_orders,
    compare_orders,
    estimate_intrinsic_dimension,
    exact_knn,
    lid_mle,
    recall_at_k,
)
from index.analysis._validate import check_k
from index.analysis.intrinsic_dimension import neighbour_count
from index.analysis.knn import Progress
from index.analysis.plots import plot_order_report
from index.analysis.recall import recall_per_query
from index.registry import validate_params

TUNABLE_KNOBS = ("ef", "nprobe")  # the first one a backend's Query model has is autotuned
AUTOTUNE_REPEATS = 3  # QPS is the best of this many timed passes (recall is the same each)
DEFAULTS = {"k": 20, "lid_k": 100, "order_queries": 200, "recall_queries": 100}
NEEDS_INPUTS = {"category": "per-point categories"}  # orders a plain rebuild cannot feed

Searcher = Callable[[np.ndarray, int, dict[str, Any]], np.ndarray]
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
    lid = lid_mle(vectors, lid_k, progress=progress[1])
    finite = lid[np.isfinite(lid)]
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
        raise InvalidParameterError(
            "order 'category' needs category_field: the payload key holding each point's category"
            + ("" if categories is None else f" ({req.category_field!r} is in no payload)"),
            field="category_field",
        )
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


# recall -------------------------------------------------------------------------------------
def _recall_queries(
    collection: Collection, req: RecallRequest, labels: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """(queries, their labels when sampled from the collection, else None)."""
    if req.query_vectors is not None:
        return query_matrix(collection, req.query_vectors), None
    count = min(DEFAULTS["recall_queries"], len(labels)) if req.queries is None else req.queries
    if not 1 <= count <= len(labels):
        raise TooFewPointsError(
            f"cannot sample {count} queries from {len(labels)} points", field="queries"
        )
    rows = np.sort(np.random.default_rng(req.seed).choice(len(labels), count, replace=False))
    return vectors[rows], labels[rows]


def _ground_truth(
    labels: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    own: np.ndarray | None,
    k: int,
    metric: str,
    progress: Progress | None,
) -> np.ndarray:
    """Exact top-k labels per query; a sampled query's own label is left out."""
    check_k(k, len(labels), exclude_self=own is not None)
    metric = "ip" if metric == "cosine" else metric  # prepared rows (zero kept): search's score
    _, rows = exact_knn(vectors, queries, k + (own is not None), metric, progress=progress)
    truth = labels[rows]
    if own is None:
        return truth
    is_own = truth == own[:, None]
    drop = np.where(is_own.any(axis=1), is_own.argmax(axis=1), k)  # else the (k+1)-th
    keep = np.ones(truth.shape, bool)
    keep[np.arange(len(truth)), drop] = False
    return truth[keep].reshape(len(truth), k)


def _searcher(
    collection: Collection, ids: dict[int, str], exclude: list[list[str]] | None
) -> Searcher:
    """search(queries, k, params) -> (nq, k) labels through `Collection.search` (-1 padded)."""
    label_of = {pid: label for label, pid in ids.items()}

    def search(queries: np.ndarray, k: int, params: dict[str, Any]) -> np.ndarray:
        hits = collection.search(queries, k, params=params, exclude=exclude, with_payload=False)
        found = np.full((len(queries), k), -1, np.int64)
        for row, row_hits in enumerate(hits):
            found[row, : len(row_hits)] = [label_of.get(h.id, -1) for h in row_hits]
        return found

    return search


def _autotune(
    collection: Collection,
    search: Searcher,
    queries: np.ndarray,
    truth: np.ndarray,
    req: RecallRequest,
) -> tuple[dict[str, Any] | None, str | None]:
    """(smallest ef/nprobe reaching the target with its table, or None and why not)."""
    if req.target_recall is None:
        return None, None
    fields = collection.backend.Query.model_fields
    knob = next((name for name in TUNABLE_KNOBS if name in fields), None)
    if knob is None:
        kind = collection.config.index_type
        return None, f"index type {kind!r} has no {' or '.join(TUNABLE_KNOBS)} knob to tune"

    def search_at(q: np.ndarray, k: int, value: int) -> np.ndarray:
        return search(q, k, {**req.params, knob: value})

    tuned = autotune(search_at, queries, truth, req.k, req.target_recall, repeats=AUTOTUNE_REPEATS)
    return {"knob": knob, **tuned.to_dict()}, None


def recall_report(
    collection: Collection, req: RecallRequest, png: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Recall@k of the collection's real search path against exact kNN, optionally autotuned."""
    validate_params(collection.backend.Query, req.params, "params")  # fail before the kNN
    labels, vectors = read_vectors(collection)
    require_points(len(labels), 1, "a recall measurement")
    queries, own = _recall_queries(collection, req, labels, vectors)
    metric = analysis_metric(collection.config.metric)
    truth = _ground_truth(labels, vectors, queries, own, req.k, metric, progress)
    ids = label_ids(collection)
    own_ids = None if own is None else [ids[x] for x in own.tolist()]
    search = _searcher(collection, ids, None if own_ids is None else [[i] for i in own_ids])
    found = search(queries, req.k, req.params)
    tuned, note = _autotune(collection, search, queries, truth, req)
    result = {
        "recall": recall_at_k(found, truth, req.k),
        "k": req.k,
        "queries": len(queries),
        "query_ids": own_ids,
        "params": req.params,
        "autotune": tuned,
        "note": note,
    }
    per_query = recall_per_query(found, truth, req.k)
    title = f"collection {collection.config.name!r} ({collection.config.index_type})"
    result["plot"] = write_png(lambda p: plot_recall(per_query, result, p, title), png)
    return result


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

"""Recall@k of a collection's real search path against exact kNN, optionally autotuned.

Found ids that tie the k-th true neighbour's distance count as hits (ann-benchmarks' rule):
with duplicates in the data, exact kNN picks one of several equal points, and a search that
returned another is not wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from diagnostics.data import analysis_metric, query_matrix, read_points, require_points
from diagnostics.plots import plot_recall, write_png
from diagnostics.requests import RecallRequest
from index import Collection
from index.analysis import TooFewPointsError, autotune, exact_knn, recall_at_k
from index.analysis._validate import check_k
from index.analysis.knn import Progress
from index.analysis.recall import DEFAULT_KNOB_VALUES, GroundTruth, recall_per_query
from index.registry import validate_params

TUNABLE_KNOBS = ("ef", "nprobe")  # the first one a backend's Query model has is autotuned
AUTOTUNE_REPEATS = 3  # QPS is the best of this many timed passes (recall is the same each)
NPROBE_VALUES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
RECALL_QUERIES = 100  # sampled from the collection when the request names no queries

Searcher = Callable[[np.ndarray, int, dict[str, Any]], np.ndarray]


def recall_queries(
    collection: Collection, req: RecallRequest, labels: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """(queries, their labels when sampled from the collection, else None)."""
    if req.query_vectors is not None:
        return query_matrix(collection, req.query_vectors), None
    count = min(RECALL_QUERIES, len(labels)) if req.queries is None else req.queries
    if not 1 <= count <= len(labels):
        raise TooFewPointsError(
            f"cannot sample {count} queries from {len(labels)} points", field="queries"
        )
    rows = np.sort(np.random.default_rng(req.seed).choice(len(labels), count, replace=False))
    return vectors[rows], labels[rows]


def ground_truth(
    labels: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    own: np.ndarray | None,
    k: int,
    metric: str,
    progress: Progress | None,
) -> GroundTruth:
    """Exact top-k labels per query; a sampled query's own label is left out."""
    check_k(k, len(labels), exclude_self=own is not None)
    metric = "ip" if metric == "cosine" else metric  # prepared rows (zero kept): search's score
    _, rows = exact_knn(vectors, queries, k + (own is not None), metric, progress=progress)
    truth = labels[rows]
    if own is not None:
        is_own = truth == own[:, None]
        drop = np.where(is_own.any(axis=1), is_own.argmax(axis=1), k)  # else the (k+1)-th
        keep = np.ones(truth.shape, bool)
        keep[np.arange(len(truth)), drop] = False
        truth = truth[keep].reshape(len(truth), k)
    return GroundTruth.of(truth, labels, vectors, queries, metric)


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
    truth: GroundTruth,
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

    # an ef below k is searched as k: tried and reported as k, once (a table of equal rows at
    # ef 10..96 for k 100 said a beam below k was chosen)
    values = tuple(sorted({max(v, req.k) for v in DEFAULT_KNOB_VALUES}))
    if knob == "nprobe":  # a few lists may be enough: from 1 up to every list
        if not getattr(collection.index, "is_trained", True):
            return (
                None,
                "the IVF index is not trained yet: its searches are exact, nprobe does nothing",
            )
        nlist = collection.index.params.nlist
        values = (*(v for v in NPROBE_VALUES if v < nlist), nlist)

    def search_at(q: np.ndarray, k: int, value: int) -> np.ndarray:
        return search(q, k, {**req.params, knob: value})

    tuned = autotune(
        search_at,
        queries,
        truth.labels,
        req.k,
        req.target_recall,
        values,
        repeats=AUTOTUNE_REPEATS,
        credit=truth.credit,
    )
    return {"knob": knob, **tuned.to_dict()}, None


def recall_report(
    collection: Collection, req: RecallRequest, png: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Recall@k of the collection's real search path against exact kNN, optionally autotuned."""
    validate_params(collection.backend.Query, req.params, "params")  # fail before the kNN
    labels, vectors, ids = read_points(collection)
    require_points(len(labels), 1, "a recall measurement")
    queries, own = recall_queries(collection, req, labels, vectors)
    metric = analysis_metric(collection.config.metric)
    truth = ground_truth(labels, vectors, queries, own, req.k, metric, progress)
    own_ids = None if own is None else [ids[x] for x in own.tolist()]
    search = _searcher(collection, ids, None if own_ids is None else [[i] for i in own_ids])
    found = truth.credit(search(queries, req.k, req.params))
    tuned, note = _autotune(collection, search, queries, truth, req)
    result = {
        "recall": recall_at_k(found, truth.labels, req.k),
        "k": req.k,
        "queries": len(queries),
        "query_ids": own_ids,
        "params": req.params,
        "autotune": tuned,
        "note": note,
    }
    per_query = recall_per_query(found, truth.labels, req.k)
    title = f"collection {collection.config.name!r} ({collection.config.index_type})"
    result["plot"] = write_png(lambda p: plot_recall(per_query, result, p, title), png)
    return result

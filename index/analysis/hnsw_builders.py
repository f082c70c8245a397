"""HNSW builders that insert vectors in a given order, one per library, in a registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from .errors import InvalidParameterError
from .knn import faiss_threads, normalize_rows

Searcher = Callable[[np.ndarray, int, int], np.ndarray]
"""search(queries, k, ef) -> (nq, k) int64 labels as row numbers of the original vectors."""


@dataclass(frozen=True)
class HnswParams:
    """Graph parameters shared by every library's build."""

    M: int = 16
    ef_construction: int = 128
    metric: str = "cosine"
    search_threads: int | None = None
    faiss_add_batch: int = 1


Builder = Callable[[np.ndarray, np.ndarray, HnswParams, int], Searcher]

HNSW_LIBRARIES: dict[str, Builder] = {}


def register_library(name: str) -> Callable[[Builder], Builder]:
    """Register an HNSW builder under ``name``."""

    def wrap(fn: Builder) -> Builder:
        HNSW_LIBRARIES[name] = fn
        return fn

    return wrap


def graph_seed(seed: int) -> int:
    """Return a level-generator seed derived from ``seed`` (hnswlib treats seeds 0 and 1 alike)."""
    return int(np.random.SeedSequence([int(seed), 7919]).generate_state(1)[0] % (2**31 - 1)) + 1


def get_builder(name: str) -> Builder:
    """Return the builder registered as ``name``."""
    if name not in HNSW_LIBRARIES:
        raise InvalidParameterError(
            f"unknown HNSW library {name!r}; allowed: {', '.join(HNSW_LIBRARIES)}",
            field="libraries",
        )
    return HNSW_LIBRARIES[name]


@register_library("hnswlib")
def build_hnswlib(
    vectors: np.ndarray, order: np.ndarray, params: HnswParams, seed: int
) -> Searcher:
    """Build an hnswlib graph inserting rows in ``order`` on one thread (so order is exact)."""
    try:
        import hnswlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the 'hnswlib' library needs: pip install hnswlib") from exc
    index = hnswlib.Index(space=params.metric, dim=vectors.shape[1])
    index.init_index(
        max_elements=vectors.shape[0],
        ef_construction=params.ef_construction,
        M=params.M,
        random_seed=graph_seed(seed),
    )
    index.add_items(vectors[order], order, num_threads=1)

    def search(queries: np.ndarray, k: int, ef: int) -> np.ndarray:
        index.set_ef(ef)
        try:
            labels, _ = index.knn_query(queries, k=k, num_threads=params.search_threads or -1)
        except RuntimeError:  # a row reached fewer than k (k near the base size): pad it
            return np.vstack([_padded(index, row, k) for row in queries])
        return np.asarray(labels, dtype=np.int64)

    return search


def _padded(index: Any, query: np.ndarray, k: int) -> np.ndarray:
    """One query's labels, -1 past what hnswlib reaches (as faiss pads its answers): the most
    it returns, found by bisection (it refuses a k it cannot fill, returning nothing)."""
    out, reached, refused = np.full(k, -1, np.int64), 0, k
    while refused - reached > 1:
        mid = (reached + refused) // 2
        try:
            labels, _ = index.knn_query(query[None, :], k=mid, num_threads=1)
        except RuntimeError:
            refused = mid
            continue
        reached, out[:mid] = mid, labels[0]
    return out


@register_library("faiss-hnsw")
def build_faiss_hnsw(
    vectors: np.ndarray, order: np.ndarray, params: HnswParams, seed: int
) -> Searcher:
    """Build a faiss IndexHNSWFlat adding rows in ``order``, ``faiss_add_batch`` at a time."""
    # faiss shuffles the points of one add() call within each level, so a strict insertion
    # order needs one add() per point (faiss_add_batch=1).
    cosine = params.metric == "cosine"
    data = normalize_rows(vectors) if cosine else vectors
    metric = faiss.METRIC_L2 if params.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexHNSWFlat(vectors.shape[1], params.M, metric)
    index.hnsw.efConstruction = params.ef_construction
    index.hnsw.rng = faiss.RandomGenerator(graph_seed(seed))  # type: ignore[attr-defined]
    step = max(1, params.faiss_add_batch)
    ordered = np.ascontiguousarray(data[order])
    with faiss_threads(None):
        for start in range(0, len(order), step):
            index.add(ordered[start : start + step])

    def search(queries: np.ndarray, k: int, ef: int) -> np.ndarray:
        index.hnsw.efSearch = ef
        q = normalize_rows(queries, "queries") if cosine else queries
        with faiss_threads(params.search_threads):
            _, pos = index.search(q, k)
        return np.where(pos >= 0, order[np.maximum(pos, 0)], -1).astype(np.int64)

    return search

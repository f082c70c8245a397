"""Insertion-order strategies for HNSW builds and a comparison of their recall."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import faiss
import numpy as np

from ._validate import (
    as_vectors,
    check_k,
    check_labels,
    check_metric,
    check_positive_ints,
    check_seeds,
)
from .errors import InvalidParameterError, TooFewPointsError, UnknownOrderError
from .hnsw_builders import Builder, HnswParams, get_builder
from .intrinsic_dimension import lid_mle, neighbour_count
from .knn import Progress, exact_knn, normalize_rows
from .order_report import OrderReport, OrderRun, summarize_runs
from .recall import GroundTruth


@dataclass(frozen=True)
class OrderInputs:
    """What an order strategy may use besides the vectors."""

    seed: int = 0
    lid: np.ndarray | None = None
    categories: np.ndarray | None = None
    n_clusters: int | None = None


OrderFn = Callable[[np.ndarray, OrderInputs], np.ndarray]

ORDERS: dict[str, OrderFn] = {}
LID_ORDERS = ("lid-desc", "lid-asc")


def register_order(name: str) -> Callable[[OrderFn], OrderFn]:
    """Register an order strategy under ``name``."""

    def wrap(fn: OrderFn) -> OrderFn:
        ORDERS[name] = fn
        return fn

    return wrap


def available_orders() -> tuple[str, ...]:
    """Return the registered order names."""
    return tuple(ORDERS)


def _need_lid(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    """Return the given LID (checked) or compute it with k = min(100, n - 1)."""
    n = vectors.shape[0]
    if inputs.lid is None:
        if n < 3:  # the MLE compares the k-th neighbour with nearer ones: k >= 2
            raise TooFewPointsError(f"LID orders need at least 3 points, got {n}", field="order")
        return lid_mle(vectors, k=neighbour_count(vectors, 100, "order"))
    lid = check_labels(inputs.lid, n, "lid").astype(np.float64)
    if np.isnan(lid).any():
        raise InvalidParameterError("lid holds NaN values", field="lid")
    return lid


def default_clusters(n: int) -> int:
    """Return sqrt(n) clusters, capped so each gets at least 39 points (k-means' minimum)."""
    return max(1, min(int(np.sqrt(n)), n // 39))


def cluster_labels(vectors: np.ndarray, n_clusters: int | None, seed: int) -> np.ndarray:
    """Return a k-means (faiss) cluster id per vector."""
    n = vectors.shape[0]
    k = default_clusters(n) if n_clusters is None else check_k(n_clusters, n, field="n_clusters")
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    km = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed, min_points_per_centroid=1)
    km.train(vectors)
    _, assign = km.index.search(vectors, 1)
    return assign[:, 0].astype(np.int64)


@register_order("as-is")
def _as_is(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    return np.arange(vectors.shape[0], dtype=np.int64)


@register_order("random")
def _random(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    return np.random.default_rng(inputs.seed).permutation(vectors.shape[0]).astype(np.int64)


@register_order("lid-desc")
def _lid_desc(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    return np.argsort(-_need_lid(vectors, inputs), kind="stable").astype(np.int64)


@register_order("lid-asc")
def _lid_asc(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    return np.argsort(_need_lid(vectors, inputs), kind="stable").astype(np.int64)


@register_order("category")
def _category(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    if inputs.categories is None:
        raise InvalidParameterError(
            "order 'category' needs categories: one label per vector", field="categories"
        )
    labels = check_labels(inputs.categories, vectors.shape[0], "categories")
    return np.argsort(labels, kind="stable").astype(np.int64)


@register_order("cluster")
def _cluster(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    labels = cluster_labels(vectors, inputs.n_clusters, inputs.seed)
    return np.argsort(labels, kind="stable").astype(np.int64)


@register_order("cluster-interleaved")
def _cluster_interleaved(vectors: np.ndarray, inputs: OrderInputs) -> np.ndarray:
    labels = cluster_labels(vectors, inputs.n_clusters, inputs.seed)
    grouped = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[grouped], labels[grouped], side="left")
    rank = np.empty_like(grouped)
    rank[grouped] = np.arange(grouped.size) - starts  # position within its own cluster
    return np.lexsort((labels, rank)).astype(np.int64)  # round-robin: by rank, then cluster


def insertion_order(
    name: str,
    vectors: np.ndarray,
    *,
    seed: int = 0,
    lid: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    n_clusters: int | None = None,
) -> np.ndarray:
    """Return the permutation of row numbers in which strategy ``name`` inserts ``vectors``."""
    if name not in ORDERS:
        raise UnknownOrderError(
            f"unknown order {name!r}; allowed: {', '.join(ORDERS)}", field="order"
        )
    vectors = as_vectors(vectors, "vectors")
    inputs = OrderInputs(seed=seed, lid=lid, categories=categories, n_clusters=n_clusters)
    return ORDERS[name](vectors, inputs)


def _check_orders(orders: Sequence[str]) -> list[str]:
    """Return ``orders`` as a list after checking every name is registered."""
    unknown = [o for o in orders if o not in ORDERS]
    if len(set(orders)) < len(orders):  # an order twice read as two seeds of one result
        raise InvalidParameterError(f"orders must be distinct, got {list(orders)}", field="orders")
    if unknown or not orders:
        raise UnknownOrderError(
            f"unknown order(s) {unknown or list(orders)}; allowed: {', '.join(ORDERS)}",
            field="orders",
        )
    return list(orders)


@dataclass(frozen=True)
class _Bench:
    """Everything one build-and-measure step needs."""

    base: np.ndarray
    vectors: np.ndarray  # what orders see: unit rows for cosine
    queries: np.ndarray
    truth: GroundTruth  # ties with the k-th neighbour count as hits, as in `analyze recall`
    k: int
    ef_values: tuple[int, ...]
    params: HnswParams
    builders: dict[str, Builder]


def _run_order(order: str, seed: int, bench: _Bench, inputs: OrderInputs) -> list[OrderRun]:
    """Build one order and seed on every library; return the recall at every ef."""
    perm = ORDERS[order](bench.vectors, replace(inputs, seed=seed))
    runs = []
    for library, build in bench.builders.items():
        start = time.perf_counter()
        search = build(bench.base, perm, bench.params, seed)
        seconds = time.perf_counter() - start
        for ef in bench.ef_values:
            recall = bench.truth.recall(search(bench.queries, bench.k, ef))
            runs.append(OrderRun(library, order, seed, ef, recall, seconds))
    return runs


def compare_orders(
    base: np.ndarray,
    queries: np.ndarray,
    *,
    k: int = 10,
    M: int = 16,
    ef_construction: int = 128,
    ef_search: Sequence[int] = (10, 40),
    orders: Sequence[str] = ("random", "lid-desc", "lid-asc"),
    seeds: Sequence[int] = (0, 1, 2),
    libraries: Sequence[str] = ("hnswlib", "faiss-hnsw"),
    metric: str = "cosine",
    lid: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    n_clusters: int | None = None,
    label: str = "",
    progress: Progress | None = None,
) -> OrderReport:
    """Build the same HNSW under each order, library and seed; report recall@k vs exact kNN."""
    base, queries = as_vectors(base, "base", min_rows=2), as_vectors(queries, "queries")
    order_names, metric = _check_orders(orders), check_metric(metric)
    M, ef_construction = check_positive_ints((M, ef_construction), "M and ef_construction")
    ef_values, seed_values = check_positive_ints(ef_search, "ef_search"), check_seeds(seeds)
    if len(set(ef_values)) < len(ef_values):  # each counted twice in the summary
        raise InvalidParameterError(
            f"ef_search must be distinct, got {ef_values}", field="ef_search"
        )
    builders = {name: get_builder(name) for name in libraries}
    _, nearest = exact_knn(base, queries, k, metric)
    vectors = normalize_rows(base) if metric == "cosine" else base
    asked = normalize_rows(queries) if metric == "cosine" else queries
    rows = np.arange(len(base), dtype=np.int64)
    truth = GroundTruth.of(nearest, rows, vectors, asked, "l2" if metric == "l2" else "ip")
    if lid is None and set(order_names) & set(LID_ORDERS):  # once, not once per seed
        lid = lid_mle(vectors, k=neighbour_count(vectors, 100, "orders"))
    params = HnswParams(M=M, ef_construction=ef_construction, metric=metric)
    bench = _Bench(base, vectors, queries, truth, k, ef_values, params, builders)
    inputs = OrderInputs(lid=lid, categories=categories, n_clusters=n_clusters)
    runs: list[OrderRun] = []
    jobs = [(order, seed) for order in order_names for seed in seed_values]
    for done, (order, seed) in enumerate(jobs, start=1):
        runs += _run_order(order, seed, bench, inputs)
        if progress is not None:
            progress(done, len(jobs))
    meta = {"n": base.shape[0], "dim": base.shape[1], "n_queries": queries.shape[0]}
    return summarize_runs(
        runs, label=label, k=k, M=M, ef_construction=ef_construction, metric=metric, **meta
    )

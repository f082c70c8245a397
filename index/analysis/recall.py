"""Recall against exact kNN, ef/nprobe autotuning, and the synthetic rank sweep."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validate import as_vectors, check_fraction, check_k, check_metric, check_positive_ints
from .errors import InvalidParameterError
from .hnsw_builders import HnswParams, get_builder
from .intrinsic_dimension import knn_euclidean, twonn_from_distances
from .knn import Progress, exact_knn
from .synthetic import subspace_vectors

SearchFn = Callable[[np.ndarray, int, int], np.ndarray]
"""search_fn(queries, k, value) -> (nq, >=k) labels; value is the knob (ef, nprobe, ...)."""

DEFAULT_KNOB_VALUES = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def _as_labels(labels: Any, field: str, k: int) -> np.ndarray:
    """Return ``labels`` as an (nq, >=k) int64 matrix."""
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise InvalidParameterError(
            f"{field} must be a 2-D integer array (nq, k), got shape {arr.shape} dtype {arr.dtype}",
            field=field,
        )
    if arr.shape[1] < k:
        raise InvalidParameterError(
            f"{field} has {arr.shape[1]} columns, need at least k={k}", field=field
        )
    return arr[:, :k].astype(np.int64)


def recall_per_query(found_labels: np.ndarray, true_labels: np.ndarray, k: int) -> np.ndarray:
    """Return per query the fraction of its true top-k ids found in the top-k (-1 = padding)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}", field="k")
    found = _as_labels(found_labels, "found_labels", k)
    truth = _as_labels(true_labels, "true_labels", k)
    if found.shape[0] != truth.shape[0]:
        raise InvalidParameterError(
            f"found_labels has {found.shape[0]} rows but true_labels has {truth.shape[0]}",
            field="found_labels",
        )
    nq = found.shape[0]
    width = int(max(found.max(initial=0), truth.max(initial=0))) + 1
    rows = np.arange(nq, dtype=np.int64)[:, None] * width
    found_keys = np.unique((rows + found)[found >= 0])  # each (query, id) once
    true_keys = np.unique((rows + truth)[truth >= 0])
    hits = np.intersect1d(found_keys, true_keys, assume_unique=True)
    n_true = np.bincount(true_keys // width, minlength=nq)
    n_hit = np.bincount(hits // width, minlength=nq)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_true > 0, n_hit / np.maximum(n_true, 1), np.nan)


def recall_at_k(found_labels: np.ndarray, true_labels: np.ndarray, k: int) -> float:
    """Return the mean fraction of the true top-k present in the found top-k."""
    per_query = recall_per_query(found_labels, true_labels, k)
    if np.isnan(per_query).all():
        raise InvalidParameterError("true_labels has no valid id (all -1)", field="true_labels")
    return float(np.nanmean(per_query))


TIE_RTOL = 1e-5  # distances this close (relative) to the k-th true one tie with it
CHUNK = 256  # queries per distance pass (bounds the (queries, k, dim) gather)


@dataclass(frozen=True)
class GroundTruth:
    """Exact top-k labels per query, and what it takes to credit ties against them."""

    labels: np.ndarray  # (nq, k)
    worst: np.ndarray  # (nq,) distance of each query's k-th true neighbour
    stored_labels: np.ndarray  # sorted, the rows of `vectors`
    vectors: np.ndarray
    queries: np.ndarray
    metric: str  # "ip" (higher is nearer) or "l2"

    def distances(self, found: np.ndarray) -> np.ndarray:
        """Distance (lower is nearer) from each query to each found label; inf for -1."""
        pos = np.searchsorted(self.stored_labels, found).clip(0, len(self.stored_labels) - 1)
        known = (found >= 0) & (self.stored_labels[pos] == found)
        out = np.full(found.shape, np.inf, np.float64)
        for start in range(0, len(found), CHUNK):
            rows = slice(start, start + CHUNK)
            picked = self.vectors[pos[rows]].astype(np.float64)
            query = self.queries[rows, None, :].astype(np.float64)
            if self.metric == "l2":
                dist = ((picked - query) ** 2).sum(-1)
            else:
                dist = -(picked * query).sum(-1)
            out[rows] = np.where(known[rows], dist, np.inf)
        return out

    def credit(self, found: np.ndarray) -> np.ndarray:
        """`found` with each id that ties the k-th true distance standing in for a missed
        true id, so that recall_at_k counts it."""
        k = self.labels.shape[1]
        found = found[:, :k]
        width = int(max(found.max(initial=0), self.labels.max(initial=0))) + 1
        keys = np.arange(len(found))[:, None] * width
        in_truth = np.isin(keys + found, keys + self.labels) | (found < 0)
        limit = self.worst + TIE_RTOL * (1 + np.abs(self.worst))
        near = self.distances(found) <= limit[:, None]
        out = found.copy()
        for r in np.flatnonzero((near & ~in_truth).any(axis=1)):
            seen = set(found[r].tolist())
            missed = [t for t in self.labels[r].tolist() if t >= 0 and t not in seen]
            for c in np.flatnonzero(near[r] & ~in_truth[r])[: len(missed)]:
                out[r, c] = missed.pop()
        return out

    @classmethod
    def of(
        cls,
        truth: np.ndarray,
        stored_labels: np.ndarray,
        vectors: np.ndarray,
        queries: np.ndarray,
        metric: str,
    ) -> GroundTruth:
        """`truth` (nq, k) labels of exact kNN over `vectors` (rows of sorted `stored_labels`)
        under "ip" or "l2", with the k-th true distances measured here."""
        bare = cls(truth, np.zeros(len(truth)), stored_labels, vectors, queries, metric)
        worst = bare.distances(truth).max(axis=1)
        return cls(truth, worst, stored_labels, vectors, queries, metric)

    def recall(self, found: np.ndarray) -> float:
        return recall_at_k(self.credit(found), self.labels, self.labels.shape[1])


@dataclass(frozen=True)
class AutotuneRow:
    """Recall and throughput at one knob value."""

    value: int
    recall: float
    qps: float
    seconds: float


@dataclass(frozen=True)
class AutotuneResult:
    """Smallest knob value reaching the target recall (``reached``), or the best one tried."""

    value: int
    recall: float
    qps: float
    table: list[AutotuneRow]
    target_recall: float
    reached: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def autotune(
    search_fn: SearchFn,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    target_recall: float,
    values: Sequence[int] = DEFAULT_KNOB_VALUES,
    *,
    repeats: int = 1,
    credit: Callable[[np.ndarray], np.ndarray] | None = None,
) -> AutotuneResult:
    """Return the smallest knob value whose recall@k reaches ``target_recall``, with its QPS.
    ``credit`` maps found labels before scoring, outside the timed search (ties, say)."""
    target = check_fraction(target_recall, "target_recall", include_high=True)
    knob = check_positive_ints(values, "values")
    if list(knob) != sorted(set(knob)):
        raise InvalidParameterError(
            f"values must be strictly increasing, got {knob}", field="values"
        )
    table: list[AutotuneRow] = []
    for value in knob:
        seconds = float("inf")
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            labels = search_fn(queries, k, value)
            seconds = min(seconds, time.perf_counter() - start)
        recall = recall_at_k(labels if credit is None else credit(labels), truth, k)
        table.append(AutotuneRow(value, recall, len(queries) / max(seconds, 1e-12), seconds))
        if recall >= target:
            return AutotuneResult(value, recall, table[-1].qps, table, target, True)
    best = max(table, key=lambda row: row.recall)
    return AutotuneResult(best.value, best.recall, best.qps, table, target, False)


@dataclass(frozen=True)
class RankPoint:
    """Recall at one (rank, ef) of the synthetic sweep, with the estimated dimension."""

    rank: int
    ef: int
    recall: float
    twonn: float


@dataclass(frozen=True)
class RankSweep:
    """HNSW recall@k on synthetic data as the subspace rank rises."""

    n: int
    n_queries: int
    dim: int
    k: int
    M: int
    ef_construction: int
    library: str
    metric: str
    points: list[RankPoint]

    def recall(self, rank: int, ef: int) -> float:
        """Return the recall at one (rank, ef)."""
        for p in self.points:
            if (p.rank, p.ef) == (rank, ef):
                return p.recall
        raise KeyError((rank, ef))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def sweep_rank(
    ranks: Sequence[int] = (2, 4, 8, 16, 32, 64),
    *,
    n: int = 5000,
    n_queries: int = 200,
    dim: int = 128,
    k: int = 10,
    M: int = 16,
    ef_construction: int = 128,
    ef_search: Sequence[int] = (10, 40),
    library: str = "hnswlib",
    metric: str = "l2",
    noise: float = 0.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> RankSweep:
    """Return recall@k of a random-order HNSW on rank-r subspace data for each rank r."""
    rank_values = check_positive_ints(ranks, "ranks")
    ef_values = check_positive_ints(ef_search, "ef_search")
    check_k(k, n)
    build, metric = get_builder(library), check_metric(metric)
    params = HnswParams(M=M, ef_construction=ef_construction, metric=metric)
    points: list[RankPoint] = []
    for i, rank in enumerate(rank_values):
        data = subspace_vectors(n + n_queries, dim, rank, seed=seed + rank, noise=noise)
        base, queries = as_vectors(data[:n]), data[n:]
        _, truth = exact_knn(base, queries, k, metric)
        dist = knn_euclidean(base, 2)
        twonn = twonn_from_distances(dist[:, 0], dist[:, 1])
        search = build(base, np.random.default_rng(seed).permutation(n), params, seed)
        for ef in ef_values:
            points.append(RankPoint(rank, ef, recall_at_k(search(queries, k, ef), truth, k), twonn))
        if progress is not None:
            progress(i + 1, len(rank_values))
    return RankSweep(n, n_queries, dim, k, M, ef_construction, library, metric, points)

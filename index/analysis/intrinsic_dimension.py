"""Intrinsic-dimension estimators: pointwise LID (MLE), global MLE, TwoNN and PCA."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ._validate import as_vectors, check_fraction, check_k
from .errors import InvalidParameterError, InvalidVectorsError, TooFewPointsError
from .knn import Progress, exact_knn

# Squared distances below this fraction of |x|^2 + |y|^2 lose digits to float32 cancellation
# in faiss's BLAS path (|x|^2 + |y|^2 - 2<x, y>); those are recomputed directly.
_CANCELLATION_RATIO = 1e-4
_REFINE_CHUNK = 1 << 16


@dataclass(frozen=True)
class IntrinsicDimension:
    """All intrinsic-dimension estimates for one set of vectors."""

    mle: float
    twonn: float
    pca99: int
    lid_mean: float
    lid_median: float
    n: int
    dim: int
    k: int
    n_distinct: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def neighbour_count(vectors: np.ndarray, cap: int, field: str) -> int:
    """A default k: `cap`, or fewer where there are fewer distinct points (a duplicate is no
    neighbour of its twin: the MLE needs k distinct ones)."""
    distinct = np.unique(np.asarray(vectors), axis=0).shape[0]
    if distinct < 3:  # the MLE compares the k-th neighbour with nearer ones: k >= 2
        raise TooFewPointsError(
            f"needs at least 3 distinct points, got {distinct} distinct among {len(vectors)}",
            field=field,
        )
    return min(cap, distinct - 1)


def _check_lid_k(k: int, n: int) -> int:
    """Check ``k`` for the MLE, which needs at least two neighbours per point."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k == 1:
        raise InvalidParameterError("k must be >= 2 for the MLE (it uses T_k / T_j)", field="k")
    return check_k(k, n, exclude_self=True)


def knn_euclidean(
    base: np.ndarray, k: int, *, threads: int | None = None, progress: Progress | None = None
) -> np.ndarray:
    """Return (n, k) ascending Euclidean distances to each point's k nearest other points."""
    base, scale = _centred(as_vectors(base, "base"))
    k = check_k(k, base.shape[0], exclude_self=True)
    sq, idx = exact_knn(base, None, k, exclude_self=True, threads=threads, progress=progress)
    dist: np.ndarray = np.sqrt(np.maximum(sq, 0.0))
    norms = np.einsum("ij,ij->i", base, base)
    suspect = np.nonzero(sq < _CANCELLATION_RATIO * (norms[:, None] + norms[idx]))
    if suspect[0].size == 0:
        return dist * scale
    for start in range(0, suspect[0].size, _REFINE_CHUNK):
        rows = suspect[0][start : start + _REFINE_CHUNK]
        cols = suspect[1][start : start + _REFINE_CHUNK]
        diff = base[rows].astype(np.float64) - base[idx[rows, cols]]
        dist[rows, cols] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return np.sort(dist, axis=1) * scale


def _centred(base: np.ndarray) -> tuple[np.ndarray, float]:
    """`base` moved to its mean and scaled to unit RMS radius (float32), and that scale. Neighbours
    do not change, distances scale back; in place float32's |x|^2 + |y|^2 - 2<x, y> picked wrong
    neighbours far from the origin (a 3-d Gaussian shifted by +100: MLE 1.68) and underflowed at
    tiny scales (x 1e-25: every estimate 0). A chunk at a time: one float32 copy at most."""
    mean = base.mean(axis=0, dtype=np.float64)
    total = 0.0
    for start in range(0, base.shape[0], _REFINE_CHUNK):
        chunk = base[start : start + _REFINE_CHUNK].astype(np.float64) - mean
        total += float(np.einsum("ij,ij->", chunk, chunk))
    scale = float(np.sqrt(total / max(base.shape[0], 1)))
    if not (scale > 0 and np.isfinite(scale)):  # one point, or all equal: nothing to scale
        scale = 1.0
    out = np.empty(base.shape, np.float32)
    for start in range(0, base.shape[0], _REFINE_CHUNK):
        chunk = base[start : start + _REFINE_CHUNK].astype(np.float64) - mean
        out[start : start + _REFINE_CHUNK] = chunk / scale
    return out, scale


def distinct_knn_euclidean(
    base: np.ndarray,
    k: int,
    *,
    threads: int | None = None,
    progress: Progress | None = None,
    field: str = "k",
) -> tuple[np.ndarray, np.ndarray]:
    """Return (kNN distances among distinct rows for every row, one row number per distinct);
    `field` names `k` in an error (pointwise LID's is `lid_k`)."""
    base = as_vectors(base, "base")
    dist = knn_euclidean(base, k, threads=threads, progress=progress)
    if (dist[:, 0] > 0).all():  # no exact duplicates: the usual case costs nothing more
        return dist, np.arange(base.shape[0])
    unique, first, inverse = np.unique(base, axis=0, return_index=True, return_inverse=True)
    if unique.shape[0] <= k:
        raise TooFewPointsError(
            f"{field}={k} needs at least {k + 1} distinct points, got {unique.shape[0]} distinct "
            f"among {base.shape[0]}; use {field} <= {unique.shape[0] - 1}",
            field=field,
        )
    return knn_euclidean(unique, k, threads=threads)[inverse.ravel()], np.sort(first)


def _inverse_lid(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per point (sum of log(T_k / T_j) over distinct neighbours j < k, their count)."""
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[1] < 2 or not np.isfinite(dist).all() or (dist < 0).any():
        raise InvalidVectorsError(
            "distances must be a finite, non-negative (n, k) array with k >= 2, "
            f"got shape {dist.shape}",
            field="distances",
        )
    positive = dist > 0  # duplicates (distance 0) carry no scale information: skip them
    tk = dist[:, -1:]
    logs = np.log(np.divide(tk, dist, out=np.ones_like(dist), where=positive))
    return logs.sum(axis=1), positive.sum(axis=1) - 1.0


def lid_from_distances(dist: np.ndarray) -> np.ndarray:
    """Return Levina-Bickel LID per row of ascending neighbour distances (self excluded)."""
    total, count = _inverse_lid(dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        lid = count / total  # inf where all neighbours are equidistant
    return np.where(count < 1, 0.0, lid)  # 0 where all k neighbours are duplicates


def mle_from_distances(dist: np.ndarray) -> float:
    """Return the global MLE: inverse of the mean inverse pointwise LID (MacKay-Ghahramani)."""
    total, count = _inverse_lid(dist)
    valid = count >= 1
    if not valid.any():
        return 0.0
    return float(1.0 / np.mean(total[valid] / count[valid]))


def twonn_from_distances(r1: np.ndarray, r2: np.ndarray, discard: float = 0.1) -> float:
    """Return the TwoNN dimension from first and second neighbour distances (Facco et al.)."""
    discard = check_fraction(discard, "discard", include_low=True)
    r1, r2 = np.asarray(r1, dtype=np.float64), np.asarray(r2, dtype=np.float64)
    valid = r1 > 0  # a duplicate makes mu undefined
    mu = np.sort(r2[valid] / r1[valid])
    n = mu.size
    keep = int(np.floor(n * (1.0 - discard)))
    if keep < 2:
        return 0.0
    x = np.log(mu[:keep])
    y = -np.log(1.0 - np.arange(1, keep + 1) / n)
    denom = float(x @ x)
    return float(x @ y / denom) if denom > 0 else float("inf")


def lid_mle(
    base: np.ndarray,
    k: int = 100,
    *,
    threads: int | None = None,
    progress: Progress | None = None,
    field: str = "k",
) -> np.ndarray:
    """Return pointwise LID (Levina-Bickel MLE, k nearest distinct points), shape (n,); `field`
    names `k` in an error."""
    base = as_vectors(base, "base")
    k = _check_lid_k(k, base.shape[0])
    dist, _ = distinct_knn_euclidean(base, k, threads=threads, progress=progress, field=field)
    return lid_from_distances(dist)


def mle_global(base: np.ndarray, k: int = 20, *, threads: int | None = None) -> float:
    """Return the global Levina-Bickel MLE with the harmonic-mean (MacKay-Ghahramani) aggregate."""
    base = as_vectors(base, "base")
    k = _check_lid_k(k, base.shape[0])
    dist, distinct = distinct_knn_euclidean(base, k, threads=threads)
    return mle_from_distances(dist[distinct])


def twonn(base: np.ndarray, discard: float = 0.1, *, threads: int | None = None) -> float:
    """Return the TwoNN estimate, fitting through the origin after discarding the top mu."""
    discard = check_fraction(discard, "discard", include_low=True)
    dist, distinct = distinct_knn_euclidean(base, 2, threads=threads)
    return twonn_from_distances(dist[distinct, 0], dist[distinct, 1], discard)


def pca_dimension(base: np.ndarray, variance: float = 0.99) -> int:
    """Return the number of principal components that explain ``variance`` of the variance."""
    base = as_vectors(base, "base")
    variance = check_fraction(variance, "variance", include_high=True)
    centred = base.astype(np.float64) - base.mean(axis=0, dtype=np.float64)
    # One BLAS thread: a d x d eigensolve is tiny, and threaded LAPACK on a busy 2-core
    # machine was measured 40-100x slower than single-threaded.
    with threadpool_limits(limits=1):
        eig = np.linalg.eigvalsh(centred.T @ centred)[::-1].clip(min=0.0)
    total = eig.sum()
    if total <= 0:
        return 0
    share = np.cumsum(eig) / total
    return int(np.searchsorted(share, variance - 1e-12) + 1)


def estimate_intrinsic_dimension(
    base: np.ndarray,
    k: int = 20,
    *,
    discard: float = 0.1,
    variance: float = 0.99,
    threads: int | None = None,
    progress: Progress | None = None,
) -> IntrinsicDimension:
    """Return MLE, TwoNN, PCA and LID summaries from one exact kNN pass."""
    base = as_vectors(base, "base")
    k = _check_lid_k(k, base.shape[0])
    discard = check_fraction(discard, "discard", include_low=True)
    variance = check_fraction(variance, "variance", include_high=True)
    dist, distinct = distinct_knn_euclidean(base, k, threads=threads, progress=progress)
    dist = dist[distinct]  # each distinct point once
    lid = lid_from_distances(dist)
    finite = lid[np.isfinite(lid)]
    return IntrinsicDimension(
        mle=mle_from_distances(dist),
        twonn=twonn_from_distances(dist[:, 0], dist[:, 1], discard),
        pca99=pca_dimension(base, variance),
        lid_mean=float(finite.mean()) if finite.size else float("nan"),
        lid_median=float(np.median(finite)) if finite.size else float("nan"),
        n=int(base.shape[0]),
        dim=int(base.shape[1]),
        k=k,
        n_distinct=int(distinct.size),
    )

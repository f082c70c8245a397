"""Exact k-nearest-neighbour search with faiss flat indexes (the ground truth for recall)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import faiss
import numpy as np

from ._validate import as_vectors, check_k, check_metric
from .errors import InvalidParameterError, InvalidVectorsError

Progress = Callable[[int, int], None]


def available_cores() -> int:
    """Return the number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextmanager
def faiss_threads(threads: int | None) -> Iterator[None]:
    """Run a block with faiss/OpenMP using ``threads`` (default: all cores), then restore."""
    # OpenMP's thread count is per calling thread: concurrent searches keep their own.
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads or available_cores())
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def normalize_rows(x: np.ndarray, name: str = "base") -> np.ndarray:
    """Return a float32 copy of ``x`` with unit-norm rows; zero rows are an error."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise InvalidVectorsError(
            f"{name} row {bad} is all zeros; cosine similarity needs non-zero vectors", field=name
        )
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def _drop_self(dist: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Remove each row's own id (or its last column when a duplicate hid it) from k+1 results."""
    is_self = idx == rows[:, None]
    has_self = is_self.any(axis=1)
    drop = np.where(has_self, is_self.argmax(axis=1), idx.shape[1] - 1)
    keep = np.ones(idx.shape, dtype=bool)
    keep[np.arange(idx.shape[0]), drop] = False
    shape = (idx.shape[0], idx.shape[1] - 1)
    return dist[keep].reshape(shape), idx[keep].reshape(shape)


_FLAT_INDEX: dict[str, Callable[[int], faiss.Index]] = {
    "l2": faiss.IndexFlatL2,
    "ip": faiss.IndexFlatIP,
    "cosine": faiss.IndexFlatIP,  # on unit rows
}


def _checked_pair(
    base: np.ndarray, queries: np.ndarray | None, metric: str, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return (base, queries) as checked float32 matrices, unit rows for cosine."""
    same = queries is None or queries is base
    base = as_vectors(base, "base")
    queries = base if same else as_vectors(queries, "queries")
    if queries.shape[1] != base.shape[1]:
        raise InvalidVectorsError(
            f"queries have dim {queries.shape[1]} but base has dim {base.shape[1]}",
            field="queries",
        )
    if exclude_self and queries.shape != base.shape:
        raise InvalidParameterError(
            "exclude_self=True needs queries to be the base rows themselves", field="exclude_self"
        )
    if check_metric(metric) == "cosine":
        base = normalize_rows(base, "base")
        queries = base if same else normalize_rows(queries, "queries")
    return base, queries


def exact_knn(
    base: np.ndarray,
    queries: np.ndarray | None,
    k: int,
    metric: str = "l2",
    batch_size: int = 16384,
    *,
    exclude_self: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return exact (dist, idx) of shape (nq, k): squared L2 ascending, or ip/cosine descending."""
    base, queries = _checked_pair(base, queries, metric, exclude_self)
    k = check_k(k, base.shape[0], exclude_self=exclude_self)
    if batch_size < 1:
        raise InvalidParameterError(
            f"batch_size must be >= 1, got {batch_size}", field="batch_size"
        )
    index = _FLAT_INDEX[metric](base.shape[1])
    nq = queries.shape[0]
    dist = np.empty((nq, k), dtype=np.float32)
    idx = np.empty((nq, k), dtype=np.int64)
    with faiss_threads(threads):
        index.add(base)
        for start in range(0, nq, batch_size):
            stop = min(start + batch_size, nq)
            d, i = index.search(queries[start:stop], k + 1 if exclude_self else k)
            if exclude_self:
                d, i = _drop_self(d, i, np.arange(start, stop))
            dist[start:stop], idx[start:stop] = d, i
            if progress is not None:
                progress(stop, nq)
    return dist, idx

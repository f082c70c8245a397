"""Re-ranking candidates by similarity to a query: pure numpy, arrays in and out."""

from __future__ import annotations

import numpy as np

from index.metrics import Metric


def rank(
    query: np.ndarray, documents: np.ndarray, metric: Metric, top_n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of the top_n documents (m, d) for one query (d,), best first."""
    if query.ndim != 1 or documents.ndim != 2 or documents.shape[1] != query.shape[0]:
        raise ValueError(f"query (d,) and documents (m, d); got {query.shape}, {documents.shape}")
    scores = _row_scores(metric, metric.prepare(query[None, :])[0], metric.prepare(documents))
    order = np.argsort(-scores, kind="stable")[: len(scores) if top_n is None else top_n]
    return order, scores[order]


def _row_scores(metric: Metric, query: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """One query's scores, every row summed in the same order: a BLAS product sums some rows
    in another, so equal documents scored a few 1e-8 apart and came back out of order."""
    if metric.kind == "ip":
        return np.einsum("ij,j->i", documents, query)
    apart = documents - query
    return -np.sqrt(np.einsum("ij,ij->i", apart, apart))

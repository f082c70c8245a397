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
    scores = metric.scores(metric.prepare(query[None, :]), metric.prepare(documents))[0]
    order = np.argsort(-scores, kind="stable")[: len(scores) if top_n is None else top_n]
    return order, scores[order]

"""Distance metrics. Every score the service returns is "higher is closer"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MetricName = Literal["cosine", "dot", "l2"]


@dataclass(frozen=True)
class Metric:
    """How a metric maps onto the libraries: inner product or squared L2, plus preparation."""

    name: MetricName
    kind: Literal["ip", "l2"]
    normalise: bool

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors as the index stores them (cosine: unit length, so cosine = inner product; a
        zero vector stays zero)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self.normalise or not len(vectors):
            return vectors
        squares = np.einsum("ij,ij->i", vectors, vectors)
        # one query is the common case: two reductions over one value cost more than the einsum
        low, high = (squares[0],) * 2 if len(squares) == 1 else (squares.min(), squares.max())
        if not (low >= TINY_SQUARES and high < np.inf):
            return _unit_rows_exactly(vectors)  # rare: a zero, tiny or huge vector
        return vectors / np.sqrt(squares)[:, None]

    def scores(self, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Exact scores (nq, n) of prepared queries against prepared vectors."""
        if self.kind == "ip":
            return queries @ vectors.T
        return -np.sqrt(squared_l2(queries, vectors))


# below this, float32 squares lose their low digits and then vanish (entries under ~1e-23)
TINY_SQUARES = 1e-30


def _unit_rows_exactly(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length with the norm taken in float64, where float32 squares
    overflow (entries past ~1e19) or vanish; zero rows stay zero."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    unit, nonzero = np.zeros_like(vectors), norms > 0
    unit[nonzero] = vectors[nonzero] / norms[nonzero, None]  # in float64, then stored as float32
    return unit


def squared_l2(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, clipped at 0 against rounding.

    One matrix product (|q|² + |x|² - 2 q·x), as faiss does. In float32 that loses a distance
    that is small beside the norms (0.04 from a vector of norm 730 came out 0, and exact search
    ranked such neighbours at random): pairs whose distance is within the expansion's rounding
    bound, times 1,000, are computed again as differences.
    """
    q_norms = np.einsum("ij,ij->i", queries, queries)
    x_norms = np.einsum("ij,ij->i", vectors, vectors)
    d2 = q_norms[:, None] - 2 * queries @ vectors.T + x_norms[None, :]
    np.maximum(d2, 0.0, out=d2)
    bound = (queries.shape[1] + 2) * float(np.finfo(np.float32).eps) * 1_000
    rows, cols = np.nonzero(d2 <= bound * (q_norms[:, None] + x_norms[None, :]))
    step = max(1, RECOMPUTE_FLOATS // max(queries.shape[1], 1))
    for at in range(0, len(rows), step):
        r, c = rows[at : at + step], cols[at : at + step]
        diff = queries[r] - vectors[c]
        d2[r, c] = np.einsum("ij,ij->i", diff, diff)
    return d2


RECOMPUTE_FLOATS = 1 << 20  # differences held at once when pairs are computed again


def l2_score(squared_distances: np.ndarray) -> np.ndarray:
    """Libraries return squared L2; the API reports the negative Euclidean distance."""
    return -np.sqrt(np.maximum(squared_distances, 0.0))


METRICS: dict[str, Metric] = {
    "cosine": Metric("cosine", "ip", normalise=True),
    "dot": Metric("dot", "ip", normalise=False),
    "l2": Metric("l2", "l2", normalise=False),
}

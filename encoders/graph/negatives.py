"""Negatives for the max-margin loss: shared random nodes, and hard ones ranked by personalised
PageRank (PinSage: nodes fairly related to the query, but not as related as the positive)."""

from __future__ import annotations

import numpy as np


def transition(indptr: np.ndarray, indices: np.ndarray):  # -> scipy.sparse.csr_matrix
    """Row-stochastic random-walk matrix; a node without edges keeps its mass (self-loop)."""
    import scipy.sparse as sp

    n = len(indptr) - 1
    deg = np.diff(indptr)
    data = 1.0 / np.repeat(np.maximum(deg, 1), deg)
    walk = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    return (walk + sp.diags((deg == 0).astype(np.float64))).tocsr()


def ppr_ranked(
    indptr: np.ndarray,
    indices: np.ndarray,
    ranks: tuple[int, int],
    alpha: float = 0.15,
    iterations: int = 20,
    chunk: int = 512,
) -> np.ndarray:
    """(n, hi - lo): for every node, the nodes at PPR ranks lo..hi-1 (rank 0 is the node itself).

    Power iteration of r = alpha * e + (1 - alpha) * r P for `chunk` start nodes at a time.
    """
    lo, hi = ranks
    n = len(indptr) - 1
    if not 0 <= lo < hi <= n:
        raise ValueError(f"hard-negative ranks {lo}:{hi} must lie within the {n} nodes")
    step = transition(indptr, indices).T.tocsr()
    out = np.empty((n, hi - lo), dtype=np.int64)
    for s in range(0, n, chunk):
        starts = np.arange(s, min(n, s + chunk))
        e = np.zeros((n, len(starts)))
        e[starts, np.arange(len(starts))] = 1.0
        r = e.copy()
        for _ in range(iterations):
            r = alpha * e + (1 - alpha) * (step @ r)
        # tiny tie-break by node id keeps the ranking deterministic among equal scores
        scores = r.T - 1e-12 * np.arange(n)
        top = np.argpartition(-scores, hi - 1, axis=1)[:, :hi]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        out[starts] = np.take_along_axis(top, order, axis=1)[:, lo:hi]
    return out


def sample_hard(candidates: np.ndarray, queries: np.ndarray, k: int, rng: np.random.Generator):
    """(b, k) hard negatives: k random picks from each query's PPR-ranked candidates."""
    cols = rng.integers(0, candidates.shape[1], size=(len(queries), k))
    return candidates[queries[:, None], cols]


def sample_random(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k nodes shared by every query of a batch (PinSage's shared negatives)."""
    return rng.integers(0, n, size=k)

"""SGC feature propagation as the model's input: S^k X with S = D^-1/2 (A + I) D^-1/2.

Computed over the training graph only (held-out edges never leak into the input). A new node is
propagated over its own edges against the known graph's hop vectors, which stay as they are; for a
node whose edges are those it has in the known graph this is exactly its row of S^k X.
"""

from __future__ import annotations

import numpy as np

from encoders.graph.features import unit_rows


def self_loop_degrees(indptr: np.ndarray) -> np.ndarray:
    """Degree + 1 (the self loop of A + I) of every known node."""
    return (np.diff(indptr) + 1).astype(np.float64)


def hop_stack(
    x: np.ndarray, indptr: np.ndarray, indices: np.ndarray, hops: int
) -> list[np.ndarray]:
    """[X, S X, ..., S^hops X] over the CSR graph (float64, so hops do not drift)."""
    import scipy.sparse as sp

    n = len(indptr) - 1
    a = sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n)) + sp.eye(n)
    inv_sqrt = self_loop_degrees(indptr) ** -0.5
    s = sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)
    stack = [np.asarray(x, dtype=np.float64)]
    for _ in range(hops):
        stack.append(s @ stack[-1])
    return stack


def model_input(stack: list[np.ndarray]) -> np.ndarray:
    """The last hop, rows L2-normalised: what the model sees for known nodes."""
    return unit_rows(stack[-1])


def propagate_new(
    own: np.ndarray, edges: list[np.ndarray], stack: list[np.ndarray], indptr: np.ndarray
) -> np.ndarray:
    """Model input of new nodes: own raw rows (m, f) propagated over their edges to known rows."""
    degrees = self_loop_degrees(indptr)
    out = np.empty(own.shape, dtype=np.float32)
    for k, (row, nbrs) in enumerate(zip(own, edges, strict=True)):
        nbrs = np.unique(np.asarray(nbrs, dtype=np.int64))
        d_self = len(nbrs) + 1.0
        weights = 1.0 / np.sqrt(d_self * degrees[nbrs])
        h = np.asarray(row, dtype=np.float64)
        for hop in stack[:-1]:
            h = h / d_self + weights @ hop[nbrs]
        out[k] = h
    return unit_rows(out)

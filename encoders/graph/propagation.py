"""Feature propagation as the model's input: a weighted sum of the hops S^k X, with
S = D^-1/2 (A + I) D^-1/2. SGC takes the last hop alone; personalised PageRank (APPNP's
propagation, Gasteiger et al. 2019) weighs hop k by alpha (1 - alpha)^k, so each node keeps a share
of its own features and nearer hops count more than far ones.

Computed over the training graph only (held-out edges never leak into the input). A new node is
propagated over its own edges against the known graph's hop vectors, which stay as they are; for a
node whose edges are those it has in the known graph this is exactly its row of the known input.
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


def hop_weights(hops: int, alpha: float | None) -> np.ndarray:
    """Each hop's weight in the model input: SGC (alpha None) the last hop alone, personalised
    PageRank alpha (1 - alpha)^k for hop k."""
    if alpha is None:
        return np.eye(hops + 1)[-1]
    return alpha * (1 - alpha) ** np.arange(hops + 1)


def model_input(stack: list[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """The hops summed by `weights` (default: the last hop alone), rows L2-normalised: what the
    model sees for known nodes."""
    weights = np.eye(len(stack))[-1] if weights is None else weights
    return unit_rows(sum(w * hop for w, hop in zip(weights, stack, strict=True) if w))


def propagate_new(
    own: np.ndarray,
    edges: list[np.ndarray],
    stack: list[np.ndarray],
    indptr: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Model input of new nodes: own raw rows (m, f) propagated over their edges to known rows,
    each hop weighted as `model_input` weighs the known ones."""
    degrees = self_loop_degrees(indptr)
    weights = np.eye(len(stack))[-1] if weights is None else weights
    out = np.empty(own.shape, dtype=np.float32)
    for k, (row, nbrs) in enumerate(zip(own, edges, strict=True)):
        nbrs = np.unique(np.asarray(nbrs, dtype=np.int64))
        d_self = len(nbrs) + 1.0
        edge_weights = 1.0 / np.sqrt(d_self * degrees[nbrs])
        h = np.asarray(row, dtype=np.float64)  # the node's own row of hop 0, then of each next
        mixed = weights[0] * h
        for hop, weight in zip(stack[:-1], weights[1:], strict=True):
            h = h / d_self + edge_weights @ hop[nbrs].astype(np.float64)
            mixed = mixed + weight * h
        out[k] = mixed
    return unit_rows(out)

"""Link prediction and node classification scores for node embeddings (numpy in, floats out)."""

from __future__ import annotations

import numpy as np


def unit(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine = dot)."""
    z = np.asarray(z, dtype=np.float32)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def roc_auc(z: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC-AUC of cosine scores, linked pairs against random pairs (ties count half)."""
    z = unit(z)
    pos = (z[positives[:, 0]] * z[positives[:, 1]]).sum(1)
    neg = (z[negatives[:, 0]] * z[negatives[:, 1]]).sum(1)
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(
        scores[np.r_[False, np.diff(scores[order]) == 0]] if len(scores) else []
    ):
        ranks[scores == value] = ranks[scores == value].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def hits_at_k(z: np.ndarray, held_out: np.ndarray, known: np.ndarray, k: int = 20) -> float:
    """Share of held-out edges (both directions) whose other end ranks in the top k of all nodes
    by cosine to the query node; the query and its known (training) neighbours are not ranked."""
    from encoders.graph.data import csr

    z = unit(z)
    indptr, indices = csr(len(z), known)
    queries = np.concatenate([held_out[:, 0], held_out[:, 1]])
    answers = np.concatenate([held_out[:, 1], held_out[:, 0]])
    hits = 0
    for s in range(0, len(queries), 512):
        q, a = queries[s : s + 512], answers[s : s + 512]
        scores = z[q] @ z.T
        rows = np.arange(len(q))
        scores[rows, q] = -np.inf
        deg = indptr[q + 1] - indptr[q]
        cols = np.concatenate([indices[indptr[u] : indptr[u + 1]] for u in q])
        scores[np.repeat(rows, deg), cols] = -np.inf
        target = scores[rows, a][:, None]
        hits += int((((scores > target).sum(1) + 1) <= k).sum())
    return hits / len(queries)


def knn_accuracy(z: np.ndarray, labels: np.ndarray, test: np.ndarray, k: int = 10) -> float:
    """k-NN classification of the `test` rows against every other node by cosine (majority vote,
    ties to the lower class id)."""
    z = unit(z)
    scores = z[test] @ z.T
    scores[np.arange(len(test)), test] = -np.inf
    neighbours = np.argpartition(-scores, k, axis=1)[:, :k]
    votes = np.zeros((len(test), int(labels.max()) + 1))
    np.add.at(votes, (np.repeat(np.arange(len(test)), k), labels[neighbours].ravel()), 1)
    return float((votes.argmax(1) == labels[test]).mean())


def sgc_smooth(features: np.ndarray, edges: np.ndarray, hops: int = 2) -> np.ndarray:
    """Features smoothed `hops` times over D^-1/2 (A + I) D^-1/2 (SGC, parameter-free)."""
    import scipy.sparse as sp

    n = len(features)
    a = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    a = (a + a.T + sp.eye(n)).tocsr()
    d = np.asarray(a.sum(1)).ravel() ** -0.5
    s = sp.diags(d) @ a @ sp.diags(d)
    x = np.asarray(features, dtype=np.float64)
    for _ in range(hops):
        x = s @ x
    return x.astype(np.float32)

"""Evaluation metrics for the MoE benchmark: pure numpy in, floats out."""

from __future__ import annotations

import math

import numpy as np


def rankings(queries: np.ndarray, corpus: np.ndarray, k: int) -> np.ndarray:
    """Row i: indices of the k corpus rows most cosine-similar to query i (unit vectors)."""
    if queries.ndim != 2 or corpus.ndim != 2 or queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"shapes {queries.shape} and {corpus.shape} do not match")
    scores = queries @ corpus.T
    k = min(k, corpus.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def ndcg_at_k(ranked: list[list[str]], judged: list[dict[str, int]], k: int = 10) -> float:
    """Mean nDCG@k with linear gains (trec_eval's ndcg_cut)."""
    total = 0.0
    for docs, rels in zip(ranked, judged, strict=True):
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:k]))
        ideal = sorted(rels.values(), reverse=True)[:k]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / max(1, len(ranked))


def recall_at_1(ranked: list[list[str]], judged: list[dict[str, int]]) -> float:
    """Share of queries whose top hit is relevant."""
    return float(
        np.mean([bool(docs) and docs[0] in rels for docs, rels in zip(ranked, judged, strict=True)])
    )


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("need positive and negative examples")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    values = np.concatenate([pos, neg])[order]
    for v in np.unique(values):  # average ranks over ties
        tied = order[values == v]
        ranks[tied] = ranks[tied].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def f1_max(scores: np.ndarray, labels: np.ndarray) -> float:
    """Best F1 over every threshold on the scores (predict positive when score >= t)."""
    order = np.argsort(-scores, kind="mergesort")
    hits = np.cumsum(labels[order] == 1)
    predicted = np.arange(1, len(order) + 1)
    precision = hits / predicted
    recall = hits / max(1, int((labels == 1).sum()))
    f1 = np.where(hits > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    last_of_tie = np.r_[scores[order][1:] != scores[order][:-1], True]
    return float(f1[last_of_tie].max())

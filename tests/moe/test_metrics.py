"""The benchmark's metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from encoders.moe.metrics import f1_max, ndcg_at_k, rankings, recall_at_1, roc_auc

SCORES = np.array([0.9, 0.8, 0.3, 0.1])
LABELS = np.array([1, 0, 1, 0])


def test_roc_auc_counts_ordered_pairs() -> None:
    assert roc_auc(SCORES, LABELS) == pytest.approx(0.75)  # 3 of 4 (pos, neg) pairs in order
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)  # a tie is half


def test_f1_max_takes_the_best_threshold() -> None:
    assert f1_max(SCORES, LABELS) == pytest.approx(0.8)  # threshold 0.3: P 2/3, R 1


def test_ranking_metrics() -> None:
    assert ndcg_at_k([["a", "b"]], [{"b": 1}]) == pytest.approx(1 / math.log2(3))
    assert recall_at_1([["a", "b"], ["b"]], [{"b": 1}, {"b": 1}]) == 0.5
    q = np.eye(3, dtype=np.float32)[:2]
    docs = np.array([[0, 1, 0], [1, 0, 0], [0.8, 0.6, 0]], dtype=np.float32)
    assert rankings(q, docs, 2).tolist() == [[1, 2], [0, 2]]
    with pytest.raises(ValueError):
        rankings(q, docs[:, :2], 2)

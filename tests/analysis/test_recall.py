"""recall_at_k against a brute-force count, autotune, and the rank sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.analysis._validate import check_k
from index.analysis.errors import AnalysisError, TooFewPointsError
from index.analysis.knn import exact_knn
from index.analysis.recall import autotune, recall_at_k, recall_per_query, sweep_rank


def _brute_recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    fractions = []
    for f_row, t_row in zip(found, truth, strict=True):
        true_ids = {int(t) for t in t_row[:k] if t >= 0}
        found_ids = {int(f) for f in f_row[:k] if f >= 0}
        if true_ids:
            fractions.append(len(true_ids & found_ids) / len(true_ids))
    return sum(fractions) / len(fractions)


@pytest.mark.parametrize("seed", range(5))
def test_recall_matches_brute_force_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = np.stack([rng.choice(60, 12, replace=False) for _ in range(80)])
    found = np.stack([rng.choice(60, 15, replace=False) for _ in range(80)])
    found[rng.random(found.shape) < 0.1] = -1  # padding
    truth[:3, 9:] = -1  # short truth rows
    for k in (1, 5, 10):
        assert recall_at_k(found, truth, k) == pytest.approx(_brute_recall(found, truth, k))


def test_recall_edge_cases() -> None:
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(truth, truth, 3) == 1.0
    assert recall_at_k(np.full((2, 3), -1), truth, 3) == 0.0
    assert recall_at_k(np.array([[3, 3, 3], [6, 5, 4]]), truth, 3) == pytest.approx((1 / 3 + 1) / 2)
    np.testing.assert_allclose(
        recall_per_query(np.array([[9, 9, 1], [4, 0, 0]]), truth, 3), [1 / 3, 1 / 3]
    )


@pytest.mark.parametrize(
    ("found", "truth", "k", "match"),
    [
        (np.zeros((2, 3), int), np.zeros((3, 3), int), 3, "2 rows but true_labels has 3"),
        (np.zeros((2, 3), int), np.zeros((2, 3), int), 4, "need at least k=4"),
        (np.zeros((2, 3)), np.zeros((2, 3), int), 3, "integer array"),
        (np.zeros((2, 3), int), np.full((2, 3), -1), 3, "no valid id"),
        (np.zeros((2, 3), int), np.zeros((2, 3), int), 0, "positive integer"),
    ],
)
def test_recall_bad_input(found, truth, k: int, match: str) -> None:
    with pytest.raises(AnalysisError, match=match) as err:
        recall_at_k(found, truth, k)
    assert err.value.code == "invalid_parameter"


def test_autotune_finds_smallest_value_reaching_target() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((30, 8)).astype(np.float32)
    _, truth = exact_knn(base, queries, 10)
    calls: list[int] = []

    def search(q: np.ndarray, k: int, value: int) -> np.ndarray:
        calls.append(value)
        _, idx = exact_knn(base[: 5 * value], q, k)  # recall grows with value
        return idx

    res = autotune(search, queries, truth, 10, 0.5, values=(10, 25, 50, 100))
    assert res.reached and res.recall >= 0.5 and res.qps > 0
    assert [row.value for row in res.table] == calls
    assert all(row.recall < 0.5 for row in res.table[:-1]) and res.value == calls[-1]
    assert json.loads(json.dumps(res.to_dict()))["value"] == res.value
    full = autotune(search, queries, truth, 10, 1.0, values=(10, 100))
    assert full.reached and full.value == 100 and full.recall == 1.0
    miss = autotune(search, queries, truth, 10, 1.0, values=(10, 20))
    assert not miss.reached and miss.value == 20


def test_autotune_bad_values() -> None:
    with pytest.raises(AnalysisError, match="strictly increasing"):
        autotune(lambda q, k, v: q, np.zeros((1, 2)), np.zeros((1, 1), int), 1, 0.9, (20, 10))
    with pytest.raises(AnalysisError, match=r"target_recall must be in \(0.0, 1.0\]"):
        autotune(lambda q, k, v: q, np.zeros((1, 2)), np.zeros((1, 1), int), 1, 1.5)


def test_sweep_rank_recall_falls_as_rank_rises() -> None:
    sweep = sweep_rank(
        (2, 24), n=1500, n_queries=60, dim=48, M=6, ef_construction=24, ef_search=(10,)
    )
    assert sweep.recall(2, 10) > sweep.recall(24, 10) + 0.1
    twonn = {p.rank: p.twonn for p in sweep.points}
    assert twonn[2] == pytest.approx(2, rel=0.15) and twonn[24] > 12
    assert json.loads(json.dumps(sweep.to_dict()))["library"] == "hnswlib"


def test_too_few_points_never_advises_an_impossible_k() -> None:
    """One point and its own neighbour excluded: it said "use k <= 0", a k that is refused."""
    with pytest.raises(TooFewPointsError) as one:
        check_k(1, 1, exclude_self=True)
    assert "add points" in str(one.value) and "<= 0" not in str(one.value)
    with pytest.raises(TooFewPointsError, match=r"use k <= 5$"):
        check_k(10, 6, exclude_self=True)

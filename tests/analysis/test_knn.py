"""exact_knn against a numpy brute force."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from index.analysis.errors import AnalysisError
from index.analysis.knn import exact_knn


def _brute(base: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    b, q = base.astype(np.float64), queries.astype(np.float64)
    if metric == "cosine":
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    score = -((q[:, None, :] - b[None, :, :]) ** 2).sum(-1) if metric == "l2" else q @ b.T
    return np.argsort(-score, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_exact_knn_matches_numpy(metric: str) -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 12)).astype(np.float32)
    queries = rng.standard_normal((25, 12)).astype(np.float32)
    dist, idx = exact_knn(base, queries, 7, metric, batch_size=8)
    assert idx.shape == dist.shape == (25, 7)
    np.testing.assert_array_equal(idx, _brute(base, queries, 7, metric))
    if metric == "l2":
        want = ((queries[:, None, :] - base[idx]) ** 2).sum(-1)
        np.testing.assert_allclose(dist, want, rtol=1e-4, atol=1e-4)
        assert (np.diff(dist, axis=1) >= 0).all()
    else:
        assert (np.diff(dist, axis=1) <= 1e-6).all()


def test_exclude_self_drops_own_row_even_with_duplicates() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((200, 8)).astype(np.float32)
    base[10] = base[11] = base[12]  # three identical rows
    _, idx = exact_knn(base, base, 5, exclude_self=True)
    assert idx.shape == (200, 5)
    assert not (idx == np.arange(200)[:, None]).any()
    assert {11, 12} <= set(idx[10, :2].tolist())
    want = _brute(base, base, 6, "l2")
    for row in (0, 50, 199):
        np.testing.assert_array_equal(idx[row], [j for j in want[row] if j != row][:5])


def test_threads_are_restored_and_progress_reported() -> None:
    before = faiss.omp_get_max_threads()
    calls: list[tuple[int, int]] = []
    base = np.random.default_rng(2).standard_normal((50, 4)).astype(np.float32)
    exact_knn(base, base, 3, threads=1, batch_size=20, progress=lambda d, t: calls.append((d, t)))
    assert faiss.omp_get_max_threads() == before
    assert calls == [(20, 50), (40, 50), (50, 50)]


def test_queries_none_means_base() -> None:
    base = np.random.default_rng(3).standard_normal((40, 4))
    _, idx = exact_knn(base, None, 3, exclude_self=True)
    assert not (idx == np.arange(40)[:, None]).any()
    _, idx_self = exact_knn(base, None, 1)
    np.testing.assert_array_equal(idx_self[:, 0], np.arange(40))


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"k": 50, "exclude_self": True}, "too_few_points"),
        ({"k": 51}, "too_few_points"),
        ({"k": 0}, "invalid_parameter"),
        ({"k": 3, "metric": "hamming"}, "invalid_parameter"),
    ],
)
def test_bad_parameters(kwargs: dict, code: str) -> None:
    base = np.random.default_rng(4).standard_normal((50, 4))
    with pytest.raises(AnalysisError) as err:
        exact_knn(base, base, **kwargs)
    assert err.value.code == code


def test_bad_vectors() -> None:
    base = np.random.default_rng(5).standard_normal((50, 4))
    with pytest.raises(AnalysisError, match="dim 3 but base has dim 4") as err:
        exact_knn(base, base[:, :3], 3)
    assert err.value.code == "invalid_vectors"
    zero = base.copy()
    zero[7] = 0
    with pytest.raises(AnalysisError, match="row 7 is all zeros") as err:
        exact_knn(zero, None, 3, "cosine")
    assert err.value.field == "base"

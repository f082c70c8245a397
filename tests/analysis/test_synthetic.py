"""Synthetic subspace data has the rank it was asked for."""

from __future__ import annotations

import numpy as np
import pytest

from index.analysis.errors import AnalysisError
from index.analysis.synthetic import random_basis, subspace_vectors


@pytest.mark.parametrize(
    ("rank", "coefficients"), [(1, "gaussian"), (7, "uniform"), (30, "gaussian")]
)
def test_rank_shape_dtype(rank: int, coefficients: str) -> None:
    x = subspace_vectors(200, 30, rank, seed=1, coefficients=coefficients)
    assert x.shape == (200, 30) and x.dtype == np.float32
    assert np.linalg.matrix_rank(x.astype(np.float64), tol=1e-3) == rank


def test_deterministic_and_noise_fills_the_space() -> None:
    np.testing.assert_array_equal(
        subspace_vectors(50, 8, 3, seed=5), subspace_vectors(50, 8, 3, seed=5)
    )
    assert not np.array_equal(
        subspace_vectors(50, 8, 3, seed=5), subspace_vectors(50, 8, 3, seed=6)
    )
    noisy = subspace_vectors(200, 8, 3, seed=5, noise=0.1)
    assert np.linalg.matrix_rank(noisy.astype(np.float64), tol=1e-3) == 8


def test_basis_is_orthonormal() -> None:
    basis = random_basis(40, 6, np.random.default_rng(0))
    np.testing.assert_allclose(basis @ basis.T, np.eye(6), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 10, "dim": 4, "rank": 5},
        {"n": 0, "dim": 4, "rank": 2},
        {"n": 10, "dim": 4, "rank": 2, "noise": -1.0},
        {"n": 10, "dim": 4, "rank": 2, "coefficients": "cauchy"},
    ],
)
def test_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(AnalysisError) as err:
        subspace_vectors(**kwargs)
    assert err.value.code == "invalid_parameter"

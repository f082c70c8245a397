"""Intrinsic-dimension estimators against data of known dimension."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.analysis.errors import AnalysisError
from index.analysis.intrinsic_dimension import (
    estimate_intrinsic_dimension,
    knn_euclidean,
    lid_from_distances,
    lid_mle,
    mle_from_distances,
    mle_global,
    pca_dimension,
    twonn,
    twonn_from_distances,
)
from index.analysis.synthetic import subspace_vectors

# Both estimators are biased low when the dimension is high for the sample size (neighbourhoods
# stop being locally uniform): at d=20 and n=4000 they read about 16-17.5, so d=20 uses n=20000.
KNOWN = [(2, 4000), (5, 4000), (10, 4000), (20, 20000)]


@pytest.fixture(scope="module")
def known_data() -> dict[int, np.ndarray]:
    return {d: subspace_vectors(n, 48, d, seed=d) for d, n in KNOWN}


@pytest.mark.parametrize(("d", "n"), KNOWN)
def test_mle_and_twonn_within_15_percent(known_data: dict[int, np.ndarray], d: int, n: int) -> None:
    dist = knn_euclidean(known_data[d], 10)
    mle = mle_from_distances(dist)
    two = twonn_from_distances(dist[:, 0], dist[:, 1])
    assert abs(mle - d) <= 0.15 * d, mle
    assert abs(two - d) <= 0.15 * d, two


@pytest.mark.parametrize("d", [2, 5, 10, 20])
def test_pca99_is_rank_on_noise_free_data(known_data: dict[int, np.ndarray], d: int) -> None:
    assert pca_dimension(known_data[d][:3000]) == d


def test_public_wrappers_agree_with_distance_forms(known_data: dict[int, np.ndarray]) -> None:
    x = known_data[5][:1500]
    dist = knn_euclidean(x, 20)
    assert mle_global(x, 20) == pytest.approx(mle_from_distances(dist))
    assert twonn(x) == pytest.approx(twonn_from_distances(dist[:, 0], dist[:, 1]))
    np.testing.assert_allclose(lid_mle(x, 20), lid_from_distances(dist))


def test_lid_formula_by_hand() -> None:
    dist = np.array([[1.0, 2.0, 4.0], [0.5, 0.5, 0.5]])
    # Levina-Bickel: (k-1) / sum_{j<k} log(T_k/T_j) = 2 / (log 4 + log 2)
    lid = lid_from_distances(dist)
    assert lid[0] == pytest.approx(2 / np.log(8))
    assert np.isinf(lid[1])  # all neighbours equidistant
    # harmonic aggregate: 1 / mean(1 / lid) over the finite-scale rows
    assert mle_from_distances(dist[:1]) == pytest.approx(2 / np.log(8))


def test_duplicates_are_guarded() -> None:
    x = subspace_vectors(500, 16, 4, seed=3)
    x = np.concatenate([x, x[:50], np.repeat(x[:1], 12, axis=0)])  # pairs and a 14-fold point
    lid = lid_mle(x, 10)
    assert lid.shape == (len(x),)
    assert np.isfinite(lid).all() and (lid > 0).all()
    np.testing.assert_allclose(lid[500:550], lid[:50])  # a copy gets its original's LID
    np.testing.assert_allclose(lid[550:], lid[0])
    np.testing.assert_allclose(lid[:500], lid_mle(x[:500], 10), rtol=1e-5)
    assert 3.4 < mle_global(x, 10) < 4.6
    assert twonn(x) == pytest.approx(twonn(x[:500]))
    est = estimate_intrinsic_dimension(x, k=10)
    assert (est.n, est.n_distinct) == (562, 500)


def test_too_few_distinct_points() -> None:
    x = np.repeat(np.eye(3, dtype=np.float32), 20, axis=0)
    with pytest.raises(AnalysisError, match="3 distinct among 60") as err:
        lid_mle(x, 5)
    assert err.value.code == "too_few_points"


def test_lid_zero_distance_guard_on_given_distances() -> None:
    dist = np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    lid = lid_from_distances(dist)
    assert lid[0] == pytest.approx(1 / np.log(2))  # zero distances skipped, not infinite
    assert lid[1] == 0.0  # every neighbour a duplicate: a point mass


def test_near_duplicates_get_exact_distances() -> None:
    x = subspace_vectors(300, 32, 3, seed=4) * 100 + 1000  # large norms: float32 cancellation
    x = np.concatenate([x, x[:1] + np.float32(0.01)])
    dist = knn_euclidean(x, 3)
    assert dist[0, 0] == pytest.approx(0.01 * np.sqrt(32), rel=1e-3)


def test_estimate_intrinsic_dimension_fields(known_data: dict[int, np.ndarray]) -> None:
    est = estimate_intrinsic_dimension(known_data[10][:2000], k=20)
    assert (est.n, est.dim, est.k, est.pca99) == (2000, 48, 20, 10)
    assert 8.0 < est.mle < 11.5 and 8.5 < est.twonn < 11.5
    assert est.lid_mean > 0 and est.lid_median > 0
    assert json.loads(json.dumps(est.to_dict()))["pca99"] == 10


def test_matches_scikit_dimension(known_data: dict[int, np.ndarray]) -> None:
    skdim = pytest.importorskip("skdim")
    x = known_data[10][:2000].astype(np.float64)
    assert mle_global(x, 20) == pytest.approx(skdim.id.MLE(K=20).fit(x).dimension_, rel=1e-4)
    want = skdim.id.TwoNN(discard_fraction=0.1).fit(x).dimension_
    assert twonn(x, 0.1) == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda x: lid_mle(x, k=100), "too_few_points"),
        (lambda x: lid_mle(x[:10], k=10), "too_few_points"),
        (lambda x: lid_mle(x, k=1), "invalid_parameter"),
        (lambda x: mle_global(x[:, 0]), "invalid_vectors"),
        (lambda x: twonn(np.where(x > 1, np.nan, x)), "invalid_vectors"),
        (lambda x: twonn(x, discard=1.0), "invalid_parameter"),
        (lambda x: pca_dimension(x, variance=0.0), "invalid_parameter"),
        (lambda x: estimate_intrinsic_dimension(x.astype(str)), "invalid_vectors"),
    ],
)
def test_bad_input_codes(call, code: str) -> None:
    x = np.random.default_rng(0).standard_normal((60, 5))
    with pytest.raises(AnalysisError) as err:
        call(x)
    assert err.value.code == code
    assert isinstance(err.value, ValueError)


def test_too_few_points_message_names_the_counts() -> None:
    x = np.random.default_rng(0).standard_normal((60, 5))
    with pytest.raises(AnalysisError, match=r"k=100 needs at least 101 points.*got 60.*k <= 59"):
        lid_mle(x, k=100)


@pytest.mark.parametrize(
    ("offset", "scale"), [(100.0, 1.0), (1000.0, 1.0), (0.0, 1e-25), (0.0, 1e19)]
)
def test_estimates_do_not_move_with_a_shift_or_a_scale(offset: float, scale: float) -> None:
    """float32 kNN far from the origin picked wrong neighbours (a 3-d Gaussian shifted by +100:
    MLE 1.68, +1000: 1.44), tiny scales underflowed (x 1e-25: every estimate 0) and huge ones
    overflowed (x 1e19: MLE 5.7); the estimates are of the shape, not of where it sits."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3000, 3)) @ rng.normal(size=(3, 128))).astype(np.float32)
    want = estimate_intrinsic_dimension(x)
    got = estimate_intrinsic_dimension(((x.astype(np.float64) + offset) * scale).astype(np.float32))
    for name in ("mle", "twonn", "lid_mean", "lid_median"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=0.02), name
    assert got.n_distinct == want.n_distinct == 3000

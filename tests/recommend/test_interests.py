"""Pure multi-interest ops: spherical k-means, interests, merges and MMR."""

from __future__ import annotations

import numpy as np
import pytest

from recommend.errors import InvalidHistory, UnknownMerge
from recommend.interests import (
    auto_interests,
    auto_short_term,
    build_interests,
    merge,
    mmr,
    spherical_kmeans,
    split_history,
    unit_rows,
)


def clustered(rng: np.random.Generator, centres: int, per: int, dim: int = 16) -> np.ndarray:
    """Points around `centres` random directions, unit length, grouped by centre."""
    axes = rng.normal(size=(centres, dim))
    x = np.repeat(axes, per, axis=0) + 0.05 * rng.normal(size=(centres * per, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_spherical_kmeans_unit_centroids_that_recover_clusters() -> None:
    x = clustered(np.random.default_rng(0), centres=4, per=10)
    centroids, assign = spherical_kmeans(x, 4, seed=1)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    groups = assign.reshape(4, 10)
    assert all(len(set(row)) == 1 for row in groups.tolist())  # one cluster per true group
    assert len({row[0] for row in groups.tolist()}) == 4
    np.testing.assert_array_equal(assign, (x @ centroids.T).argmax(1))  # converged assignment


def test_kmeans_caps_k_at_n_and_handles_duplicates() -> None:
    x = np.eye(5, dtype=np.float32)[:3]
    centroids, assign = spherical_kmeans(x, 5)
    assert centroids.shape == (3, 5) and sorted(set(assign.tolist())) == [0, 1, 2]
    centroids, assign = spherical_kmeans(np.ones((3, 5), np.float32), 5)  # copies: one cluster
    assert centroids.shape == (1, 5) and assign.tolist() == [0, 0, 0]


@pytest.mark.parametrize("n", [1, 2, 5, 9, 30, 200])
def test_interests_are_unit_vectors_that_cover_the_history(n: int) -> None:
    rng = np.random.default_rng(n)
    vectors = rng.normal(size=(n, 12)).astype(np.float32)
    stamps = rng.permutation(n).astype(float)
    found = build_interests(vectors, stamps)
    k = len(found.vectors)
    assert k == min(auto_interests(n), n)
    np.testing.assert_allclose(np.linalg.norm(found.vectors, axis=1), 1.0, atol=1e-5)
    covered = np.sort(np.concatenate(found.members))
    np.testing.assert_array_equal(covered, np.arange(n))  # every item in exactly one interest
    assert found.weights.sum() == pytest.approx(1.0) and (found.weights > 0).all()
    if k > 1 and n >= 3:
        _, short = split_history(stamps, auto_short_term(n))
        short_members = np.concatenate(
            [m for m, t in zip(found.members, found.terms, strict=True) if t == "short"]
        )
        assert set(short_members.tolist()) == set(short.tolist())  # the latest items


def test_long_term_interest_agreeing_with_short_term_weighs_more() -> None:
    rng = np.random.default_rng(3)
    a, b = clustered(rng, 2, 6)[[0, 6]]
    noise = lambda v: v + 0.01 * rng.normal(size=v.shape)  # noqa: E731
    old = np.stack([noise(a) for _ in range(4)] + [noise(b) for _ in range(4)])
    recent = np.stack([noise(a) for _ in range(4)])  # lately the user reads about `a` only
    found = build_interests(np.vstack([old, recent]), np.arange(12.0), k=3, short_term=4)
    longs = [j for j, t in enumerate(found.terms) if t == "long"]
    assert len(longs) == 2
    near_a = max(longs, key=lambda j: float(found.vectors[j] @ a))
    far = [j for j in longs if j != near_a][0]
    assert found.weights[near_a] > found.weights[far]


def test_empty_history_is_refused() -> None:
    with pytest.raises(InvalidHistory):
        build_interests(np.zeros((0, 4), np.float32), np.zeros(0))


def test_merge_max_dedups_and_takes_best_score() -> None:
    keys = np.array([[1, 2, 3], [2, 4, -1]])
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.7, -np.inf]], np.float32)
    out, s, src = merge("max", keys, scores, np.array([0.5, 0.5]), 10)
    assert out.tolist() == [1, 2, 4, 3]
    np.testing.assert_allclose(s, [0.9, 0.8, 0.7, 0.1])
    assert src.tolist() == [0, 1, 1, 0]


def test_round_robin_follows_weights_and_dedups() -> None:
    keys = np.array([[10, 11, 12, 13, 14, 15], [10, 20, 21, 22, 23, 24]])
    scores = np.tile(np.linspace(1, 0.5, 6), (2, 1)).astype(np.float32)
    out, _, src = merge("round_robin", keys, scores, np.array([2 / 3, 1 / 3]), 6)
    assert len(set(out.tolist())) == 6
    assert src.tolist().count(0) == 4 and src.tolist().count(1) == 2
    assert out.tolist()[:3] == [10, 20, 11]  # interest 1 skips 10, taken already


def test_unknown_merge() -> None:
    with pytest.raises(UnknownMerge):
        merge("median", np.zeros((1, 1), np.int64), np.zeros((1, 1)), np.ones(1), 1)


def test_mmr_lambda_one_is_plain_ranking() -> None:
    rng = np.random.default_rng(7)
    rel = rng.random(50).astype(np.float32)
    rel[[3, 9]] = rel[5]  # ties keep their order, as a stable sort does
    vectors = rng.normal(size=(50, 8))
    np.testing.assert_array_equal(mmr(rel, vectors, 20, 1.0), np.argsort(-rel, kind="stable")[:20])


def test_mmr_diversifies_near_duplicates() -> None:
    base = np.eye(3)
    vectors = np.vstack([base[0], base[0] * 0.999 + 0.001, base[1]])
    rel = np.array([1.0, 0.99, 0.5])
    assert mmr(rel, vectors, 2, 1.0).tolist() == [0, 1]
    assert mmr(rel, vectors, 2, 0.5).tolist() == [0, 2]  # the duplicate gives way


def test_copies_of_one_item_are_one_interest_per_term() -> None:
    """A history of 20 reads of one item came out as 5 identical interests (k = 20 // 4)."""
    one = np.random.default_rng(4).normal(size=(1, 12)).astype(np.float32)
    found = build_interests(np.repeat(one, 20, axis=0), np.arange(20.0))
    assert sorted(found.terms) == ["long", "short"]
    np.testing.assert_allclose(found.vectors, np.repeat(unit_rows(one), 2, axis=0), atol=1e-6)
    two = np.vstack([np.repeat(one, 10, axis=0), np.repeat(-one, 10, axis=0)])
    again = build_interests(two, np.arange(20.0), short_term=0)
    assert len(again.vectors) == 2  # as many as there are distinct items, not k = 5

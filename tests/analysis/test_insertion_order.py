"""Insertion-order strategies and the order comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.analysis.errors import AnalysisError
from index.analysis.insertion_order import (
    ORDERS,
    available_orders,
    compare_orders,
    insertion_order,
)
from index.analysis.intrinsic_dimension import lid_mle

ALL = ("as-is", "random", "lid-desc", "lid-asc", "category", "cluster", "cluster-interleaved")


def test_registry_holds_every_strategy() -> None:
    assert set(available_orders()) == set(ALL) == set(ORDERS)


@pytest.mark.parametrize("name", ALL)
def test_every_order_is_a_permutation(clustered: tuple[np.ndarray, np.ndarray], name: str) -> None:
    base, _ = clustered
    labels = np.arange(len(base)) % 5
    perm = insertion_order(name, base, seed=3, categories=labels, n_clusters=6)
    assert perm.dtype == np.int64 and perm.shape == (len(base),)
    np.testing.assert_array_equal(np.sort(perm), np.arange(len(base)))


def test_lid_orders_really_sort_by_lid(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    base, _ = clustered
    lid = lid_mle(base, 30)
    desc = insertion_order("lid-desc", base, lid=lid)
    assert (np.diff(lid[desc]) <= 0).all()
    asc = insertion_order("lid-asc", base, lid=lid)
    assert (np.diff(lid[asc]) >= 0).all()
    computed = lid_mle(base, 100)
    assert (np.diff(computed[insertion_order("lid-desc", base)]) <= 0).all()


def test_random_depends_on_seed_only(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    base, _ = clustered
    a, b = (insertion_order("random", base, seed=s) for s in (1, 2))
    np.testing.assert_array_equal(a, insertion_order("random", base, seed=1))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(insertion_order("as-is", base), np.arange(len(base)))


def _runs(values: np.ndarray) -> int:
    return int((np.diff(values) != 0).sum()) + 1


def test_category_and_cluster_group_contiguously(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    base, _ = clustered
    labels = np.array(["b", "a", "c"])[np.arange(len(base)) % 3]
    perm = insertion_order("category", base, categories=labels)
    assert _runs(np.searchsorted(["a", "b", "c"], labels[perm])) == 3
    assert (np.diff(perm[labels[perm] == "a"]) > 0).all()  # stable within a group
    perm = insertion_order("cluster", base, n_clusters=6, seed=0)
    # contiguous groups: 6 runs of the cluster ids in insertion order
    from index.analysis.insertion_order import cluster_labels

    cl = cluster_labels(base, 6, 0)
    assert _runs(cl[perm]) == 6


def test_cluster_interleaved_is_round_robin(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    from index.analysis.insertion_order import cluster_labels

    base, _ = clustered
    cl = cluster_labels(base, 6, 0)
    seq = cl[insertion_order("cluster-interleaved", base, n_clusters=6, seed=0)]
    sizes = np.bincount(cl)
    rounds = sizes.min()
    first = seq[: 6 * rounds].reshape(rounds, 6)
    assert all(sorted(row) == list(range(6)) for row in first)  # every cluster once per round


@pytest.mark.parametrize(
    ("name", "kwargs", "code", "match"),
    [
        ("zigzag", {}, "unknown_order", "allowed: as-is, random, lid-desc"),
        ("category", {}, "invalid_parameter", "needs categories"),
        ("category", {"categories": np.zeros(3)}, "invalid_parameter", "length 600"),
        ("lid-desc", {"lid": np.zeros(4)}, "invalid_parameter", "length 600"),
        ("cluster", {"n_clusters": 601}, "too_few_points", "n_clusters=601 needs at least 601"),
    ],
)
def test_bad_order_input(
    clustered: tuple[np.ndarray, np.ndarray], name: str, kwargs: dict, code: str, match: str
) -> None:
    base, _ = clustered
    with pytest.raises(AnalysisError, match=match) as err:
        insertion_order(name, base, **kwargs)
    assert err.value.code == code


@pytest.fixture(scope="module")
def report(clustered: tuple[np.ndarray, np.ndarray]):
    base, queries = clustered
    return compare_orders(
        base,
        queries,
        k=10,
        M=6,
        ef_construction=20,
        ef_search=(10, 30),
        orders=("random", "lid-desc", "lid-asc", "cluster"),
        seeds=(0, 1),
        metric="l2",
        label="test blobs",
    )


def test_compare_orders_on_both_libraries(report) -> None:
    assert report.libraries == ["hnswlib", "faiss-hnsw"]
    assert len(report.results) == 2 * 4 * 2
    for r in report.results:
        assert 0.0 <= r.recall_mean <= 1.0 and len(r.per_seed) == 2
        assert all(0.0 <= v <= 1.0 for v in r.per_seed)
    for s in report.spreads:
        assert s.best_recall >= s.worst_recall and s.spread == pytest.approx(
            s.best_recall - s.worst_recall
        )
    assert report.recommended in report.orders
    assert set(report.recommended_by_library) == {"hnswlib", "faiss-hnsw"}
    for lib in report.libraries:
        assert report.recall(lib, "random", 30) >= report.recall(lib, "random", 10) - 0.02
    text = json.dumps(report.to_dict())
    assert json.loads(text)["label"] == "test blobs"


def test_compare_orders_cosine_and_progress(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = clustered
    calls: list[tuple[int, int]] = []
    rep = compare_orders(
        base[:200],
        queries[:10],
        M=4,
        ef_construction=10,
        ef_search=(5,),
        orders=("as-is", "lid-desc"),
        seeds=(0,),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert rep.metric == "cosine" and calls == [(1, 2), (2, 2)]
    assert all(0.0 <= r.recall_mean <= 1.0 for r in rep.results)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"orders": ("random", "nope")}, "unknown_order"),
        ({"libraries": ("annoy",)}, "invalid_parameter"),
        ({"metric": "manhattan"}, "invalid_parameter"),
        ({"ef_search": ()}, "invalid_parameter"),
        ({"seeds": (1, 1)}, "invalid_parameter"),
        # twice, an order read as two seeds of one result and an ef counted twice
        ({"orders": ("random", "random")}, "invalid_parameter"),
        ({"ef_search": (10, 10)}, "invalid_parameter"),
        ({"k": 601}, "too_few_points"),
    ],
)
def test_compare_orders_bad_input(
    clustered: tuple[np.ndarray, np.ndarray], kwargs: dict, code: str
) -> None:
    base, queries = clustered
    with pytest.raises(AnalysisError) as err:
        compare_orders(base, queries, **kwargs)
    assert err.value.code == code


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_order_recall_credits_ties_with_the_kth_neighbour(metric: str) -> None:
    """50 distinct points, 20 copies each: exact kNN keeps 10 of ~20 equal copies and the
    graph returns others. Recall read ~0.65 at any ef, unlike `analyze recall`."""
    distinct = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    base = np.repeat(distinct, 20, axis=0)
    queries = distinct[:20] + 0.01
    report = compare_orders(
        base, queries, k=10, ef_search=(64,), orders=("random",), seeds=(0,), metric=metric
    )
    recalls = [r.recall_mean for r in report.results]
    assert recalls and min(recalls) >= 0.99, recalls

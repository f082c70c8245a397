"""One contract suite run against every index backend and metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import milvus_lite_uri

from index import METRICS, available_indexes, index_class

DIM = 24


def exact_top(metric: str, base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    m = METRICS[metric]
    scores = m.scores(m.prepare(queries), m.prepare(base))
    return np.argsort(-scores, axis=1)[:, :k]


# Generous settings under which every backend should find the exact neighbours. IVF lists are
# few so training happens at these sizes; PQ with one dimension per code is nearly lossless.
GENEROUS = {
    "hnsw": {"ef": 200},
    "faiss-hnsw": {"ef": 200},
    "ivf": {"nlist": 4, "nprobe": 4},
    "ivfpq": {"nlist": 1, "nprobe": 1, "m": DIM, "nbits": 6},
    # one Milvus Lite file (one embedded server) for the module; each index its own collection
    "milvus": {"ef": 200, "uri": milvus_lite_uri()},
}


def build(name: str, metric: str, n: int = 600, seed: int = 0):  # type: ignore[no-untyped-def]
    cls = index_class(name)
    params = cls.Params.model_validate(GENEROUS.get(name, {}), context={"dim": DIM})
    index = cls(DIM, METRICS[metric], params)
    base = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    index.add(np.arange(n, dtype=np.int64), METRICS[metric].prepare(base))
    return index, base


CASES = [(name, metric) for name in available_indexes() for metric in METRICS]


@pytest.mark.parametrize(("name", "metric"), CASES)
def test_agrees_with_exact_search(name: str, metric: str) -> None:
    index, base = build(name, metric)
    queries = np.random.default_rng(1).normal(size=(30, DIM)).astype(np.float32)
    labels, scores = index.search(METRICS[metric].prepare(queries), 10)
    truth = exact_top(metric, base, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(labels, truth, strict=True)])
    assert recall >= (0.9 if name == "ivfpq" else 0.99)  # PQ is lossy; rescoring restores 1.0
    assert (np.diff(scores, axis=1) <= 1e-5).all()  # best first, higher is closer


@pytest.mark.parametrize(("name", "metric"), CASES)
def test_remove_hides_labels_and_add_reuses(name: str, metric: str) -> None:
    index, base = build(name, metric, n=200)
    gone = np.arange(0, 200, 2)
    index.remove(gone)
    assert len(index) == 100
    labels, _ = index.search(METRICS[metric].prepare(base[:20]), 50)
    assert not set(labels.ravel().tolist()) & set(gone.tolist())
    index.add(np.arange(1000, 1100), METRICS[metric].prepare(base[:100]))
    assert len(index) == 200
    assert set(index.labels().tolist()) == set(range(1, 200, 2)) | set(range(1000, 1100))


@pytest.mark.parametrize(("name", "metric"), CASES)
def test_allowed_restricts_results(name: str, metric: str) -> None:
    index, base = build(name, metric)
    allowed = np.arange(5, 600, 50)  # 12 labels
    labels, _ = index.search(METRICS[metric].prepare(base[:4]), 10, allowed=allowed)
    valid = labels[labels >= 0]
    assert set(valid.tolist()) <= set(allowed.tolist())
    assert (labels >= 0).sum(axis=1).min() == 10  # k results exist, so k come back


@pytest.mark.parametrize(("name", "metric"), CASES)
def test_a_query_inside_a_ruled_out_cluster_still_finds_its_k(name: str, metric: str) -> None:
    """faiss's HNSW beam keeps `ef` candidates, selected or not: near a deleted cluster, or
    under a filter excluding it, it found 0-1 of the true 10 (and fewer than 10 at all)."""
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(8, DIM)) * 4
    cluster = np.arange(3000) % 8
    base = (centres[cluster] + rng.normal(size=(3000, DIM))).astype(np.float32)
    cls = index_class(name)
    params = cls.Params.model_validate(GENEROUS.get(name, {}), context={"dim": DIM})
    m = METRICS[metric]
    queries = m.prepare((centres[0] + rng.normal(size=(20, DIM))).astype(np.float32))
    elsewhere = np.flatnonzero(cluster != 0)
    truth = elsewhere[exact_top(metric, base[elsewhere], queries, 10)]
    for ruled_out in ("filter", "delete"):
        index = cls(DIM, m, params)
        index.add(np.arange(3000, dtype=np.int64), m.prepare(base))
        if ruled_out == "delete":
            index.remove(np.flatnonzero(cluster == 0))  # 12.5%: below any rebuild ratio
        allowed = elsewhere if ruled_out == "filter" else None
        labels, _ = index.search(queries, 10, allowed=allowed)
        hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(labels, truth, strict=True)]
        floor = 0.8 if name == "ivfpq" else 0.95  # PQ is lossy here; graphs were at 0.1
        assert np.mean(hits) / 10 >= floor, (ruled_out, hits)


@pytest.mark.parametrize(("name", "metric"), CASES)
def test_save_load_roundtrip(name: str, metric: str, tmp_path: Path) -> None:
    index, base = build(name, metric)
    index.remove(np.array([3, 4, 5]))
    queries = METRICS[metric].prepare(base[:10])
    before = index.search(queries, 5)
    index.save(tmp_path)
    cls = index_class(name)
    loaded = cls.load(tmp_path, DIM, METRICS[metric], index.params)
    np.testing.assert_array_equal(loaded.search(queries, 5)[0], before[0])
    assert set(loaded.labels().tolist()) == set(index.labels().tolist())
    loaded.add(np.array([9999]), queries[:1])  # still writable after load
    assert len(loaded) == len(index) + 1


def test_hnsw_churn_keeps_the_graph_at_most_twice_the_live_points() -> None:
    """Slots are not reused (see test_hnsw_updates); tombstones are dropped by a rebuild."""
    index, base = build("hnsw", "cosine", n=300)
    for round_ in range(5):
        index.remove(index.labels()[:100])
        index.add(np.arange(10_000 * (round_ + 1), 10_000 * (round_ + 1) + 100), base[:100])
        assert len(index) == 300 and index._index.get_current_count() <= 600
    assert index.tombstone_ratio <= 0.5


def test_k_larger_than_index_returns_all() -> None:
    index, _ = build("hnsw", "l2", n=5)
    labels, _ = index.search(np.zeros((1, DIM), np.float32), 10)
    assert sorted(labels[0].tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("name", ["ivf", "ivfpq"])
def test_an_ivf_search_probes_more_lists_rather_than_answer_short_of_k(name: str) -> None:
    """k=1000 over nprobe 32 of 128 lists answered 994 of 6,000 points: the probed lists held
    fewer. Now, unfiltered as filtered, it probes more lists until k are found."""
    cls = index_class(name)
    spec = {"nlist": 16, "nprobe": 1} | ({"m": DIM, "nbits": 6} if name == "ivfpq" else {})
    params = cls.Params.model_validate(spec, context={"dim": DIM})
    index = cls(DIM, METRICS["l2"], params)
    base = np.random.default_rng(3).normal(size=(3000, DIM)).astype(np.float32)
    index.add(np.arange(3000, dtype=np.int64), base)  # trains once it holds enough
    assert index.is_trained
    labels, _ = index.search(base[:5], 500)
    assert (labels >= 0).all() and all(len(set(row.tolist())) == 500 for row in labels)

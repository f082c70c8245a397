"""`params: {"exact": true}` on every local backend: the index is not asked, every live vector
the filter keeps is scored (Qdrant's `exact`; it was accepted and ignored by the Qdrant routes)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from index.catalog import Catalog
from index.collection_config import CollectionConfig
from index.metrics import METRICS

# sparse or coarse on purpose: asked, each index misses some true neighbours
SPARSE = {
    "hnsw": {"M": 2, "ef_construction": 4, "ef": 2},
    "faiss-hnsw": {"M": 2, "ef_construction": 4, "ef": 2},
    "ivf": {"nlist": 8, "nprobe": 1},
    "ivfpq": {"nlist": 4, "nprobe": 1, "m": 2, "nbits": 4},
    "flat": {},
}


@pytest.mark.parametrize("index_type", list(SPARSE))
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_equals_numpy_with_and_without_a_filter(index_type: str, metric: str) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(600, 8)).astype(np.float32)
    config = CollectionConfig("x", 8, metric, None, index_type, SPARSE[index_type])
    collection = Catalog(Path(tempfile.mkdtemp())).create(config)
    ids = [str(i) for i in range(600)]
    collection.upsert(ids, vectors, [{"n": i} for i in range(600)])
    collection.delete(ids[:600:7])
    m = METRICS[metric]
    stored = m.prepare(vectors)
    queries = rng.normal(size=(6, 8)).astype(np.float32)
    for flt in (None, {"must": [{"key": "n", "range": {"gte": 300}}]}):
        keep = [i for i in range(600) if i % 7 and (flt is None or i >= 300)]
        truth = m.scores(m.prepare(queries), stored[keep])
        hits = collection.search(queries, 20, filter=flt, params={"exact": True})
        for row, found in zip(truth, hits, strict=True):
            best = np.sort(row)[::-1][:20]
            np.testing.assert_allclose([h.score for h in found], best, rtol=1e-5, atol=1e-5)
            assert len({h.id for h in found}) == 20
            assert all(int(h.id) in keep for h in found)


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
@pytest.mark.parametrize("params", [{"exact": True}, {"rescore": True}])
def test_l2_scores_exact_near_vectors_with_large_norms(index_type: str, params: dict) -> None:
    """Neighbours 0.02 apart around a vector of norm ~1,200: the float32 expansion
    |q|² + |x|² - 2q·x cancels to noise there (they scored -0.0 and were ranked at random)."""
    rng = np.random.default_rng(3)
    centre = (rng.normal(size=17) * 300).astype(np.float32)
    near = (centre + rng.normal(size=(20, 17)) * 0.02).astype(np.float32)
    far = rng.normal(size=(40, 17)).astype(np.float32)
    vectors = np.vstack([near, far])
    knobs = {"nlist": 2} if index_type == "ivf" else {}
    config = CollectionConfig("x", 17, "l2", None, index_type, knobs)
    collection = Catalog(Path(tempfile.mkdtemp())).create(config)
    collection.upsert([str(i) for i in range(60)], vectors, [{}] * 60)
    truth = np.sqrt(((vectors.astype(np.float64) - centre.astype(np.float64)) ** 2).sum(1))
    hits = collection.search(centre[None, :], 5, params=params)[0]
    assert [h.id for h in hits] == [str(i) for i in np.argsort(truth)[:5]]
    np.testing.assert_allclose([-h.score for h in hits], np.sort(truth)[:5], rtol=1e-4)

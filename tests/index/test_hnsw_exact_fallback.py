"""The HNSW backend's exact fallback (used when the graph walk cannot reach k live points) scans
in chunks and must give numpy's exact top-k, filtered or not."""

from __future__ import annotations

import numpy as np
import pytest

import index.backends.hnsw as hnsw
from index.backends.hnsw import HnswIndex, HnswParams
from index.metrics import METRICS


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_exact_fallback_scan_equals_numpy_across_chunks(
    metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hnsw, "EXACT_CHUNK", 64)  # 1,000 points: 16 chunks
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(1000, 6)).astype(np.float32)
    index = HnswIndex(6, METRICS[metric], HnswParams())
    index.add(np.arange(1000), vectors)
    index.remove(np.arange(0, 1000, 10))  # deleted points are never answered
    queries = rng.normal(size=(3, 6)).astype(np.float32)
    for allowed in (None, set(range(0, 1000, 3))):
        keep = np.array([i for i in range(1000) if i % 10 and (allowed is None or i in allowed)])
        diff = queries[:, None, :] - vectors[None, keep, :]
        full = 1 - queries @ vectors[keep].T if metric == "dot" else (diff**2).sum(-1)
        truth = keep[np.argsort(full, axis=1)[:, :25]]
        labels, scores = index._exact(queries, 25, allowed)
        assert labels.shape == (3, 25)
        assert all(set(a) == set(b) for a, b in zip(labels.tolist(), truth.tolist(), strict=True))
        assert np.all(np.diff(scores, axis=1) <= 0)  # best first

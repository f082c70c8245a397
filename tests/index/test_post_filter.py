"""Wide filters are applied after an oversampled unfiltered ANN search; rows that come up
short are searched again with the filter inside, so k hits come back whenever k exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import Catalog, CollectionConfig
from index.plans import EXACT_FILTER_LIMIT, POST_FILTER_SHARE

N, DIM, K = EXACT_FILTER_LIMIT * 2, 16, 10


def build(tmp_path: Path, index_type: str):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    catalog = Catalog(tmp_path)
    col = catalog.create(CollectionConfig("c", DIM, metric="cosine", index_type=index_type))
    ids = [str(i) for i in range(N)]
    col.upsert(ids, vectors, [{"n": i % 10} for i in range(N)])
    return catalog, col, vectors


def exact(vectors: np.ndarray, keep: np.ndarray, query: np.ndarray) -> list[str]:
    rows = np.flatnonzero(keep)
    order = np.argsort(-(vectors[rows] @ query), kind="stable")[:K]
    return [str(i) for i in rows[order]]


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_wide_filters_match_exact_filtered_search(tmp_path: Path, index_type: str) -> None:
    catalog, col, vectors = build(tmp_path, index_type)
    n = np.arange(N) % 10
    queries = np.random.default_rng(1).normal(size=(20, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for flt, keep in (
        ({"must": [{"key": "n", "range": {"lt": 5}}]}, n < 5),
        ({"must_not": [{"key": "n", "match": {"value": 3}}]}, n != 3),
    ):
        assert keep.mean() >= POST_FILTER_SHARE and keep.sum() > EXACT_FILTER_LIMIT
        hits = col.search(queries, K, filter=flt, with_payload=False)
        found = [[h.id for h in row] for row in hits]
        truth = [exact(vectors, keep, q) for q in queries]
        assert all(len(row) == K for row in found)
        assert all(keep[int(h)] for row in found for h in row)
        overlap = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])
        assert overlap == 1.0 if index_type == "flat" else overlap >= 0.9
    catalog.close()


def test_rows_whose_neighbours_are_all_filtered_out_are_searched_again(tmp_path: Path) -> None:
    catalog, col, vectors = build(tmp_path, "flat")
    query = vectors[0]
    # keep the half of the points farthest from the query: the unfiltered shortlist holds none
    far = np.argsort(vectors @ query)[: N // 2]
    keep = np.zeros(N, bool)
    keep[far] = True
    col.upsert([str(i) for i in range(N)], vectors, [{"far": bool(k)} for k in keep])
    hits = col.search(query[None], K, filter={"must": [{"key": "far", "match": {"value": True}}]})
    assert [h.id for h in hits[0]] == exact(vectors, keep, query)
    catalog.close()

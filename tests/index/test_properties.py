"""Property tests (hypothesis): every backend against brute force, under random operations."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import evaluate_filter, milvus_lite_uri

from index import METRICS, Catalog, CollectionConfig, available_indexes

DIM = 8
# Generous parameters under which each backend must return the exact top-k.
GENEROUS: dict[str, dict[str, Any]] = {
    "hnsw": {"ef": 256, "M": 32},
    "faiss-hnsw": {"ef": 256, "M": 32},
    "ivf": {"nlist": 2, "nprobe": 2},
    "ivfpq": {"nlist": 1, "nprobe": 1, "m": 8, "nbits": 4},
    "flat": {},
    "milvus": {"ef": 256, "M": 32, "uri": milvus_lite_uri()},  # one Milvus Lite for the module
}
SEARCH_PARAMS = {"ivfpq": {"rescore": True}}  # PQ is lossy; rescoring makes it exact
PROFILE = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def collection(index_type: str, metric: str = "cosine"):  # type: ignore[no-untyped-def]
    root = Path(tempfile.mkdtemp())
    config = CollectionConfig(
        "p", DIM, metric=metric, index_type=index_type, index_params=GENEROUS[index_type]
    )
    return Catalog(root).create(config)


def exact_ids(vectors: dict[str, np.ndarray], query: np.ndarray, k: int, metric: str) -> list[str]:
    m = METRICS[metric]
    ids = list(vectors)
    scores = m.scores(m.prepare(query[None, :]), m.prepare(np.stack([vectors[i] for i in ids])))[0]
    return [ids[j] for j in np.argsort(-scores, kind="stable")[:k]]


vectors_strategy = st.integers(min_value=0, max_value=2**31 - 1).map(
    lambda seed: np.random.default_rng(seed).normal(size=(700, DIM)).astype(np.float32)
)


@PROFILE
@given(
    data=vectors_strategy,
    index_type=st.sampled_from(available_indexes()),
    metric=st.sampled_from(list(METRICS)),
    k=st.integers(1, 20),
)
def test_every_backend_agrees_with_exact(
    data: np.ndarray, index_type: str, metric: str, k: int
) -> None:
    col = collection(index_type, metric)
    ids = [f"v{i}" for i in range(660)]  # enough for every IVF setting above to train
    col.upsert(ids, data[:660], [{}] * 660)
    assert getattr(col.index, "is_trained", True)
    vectors = dict(zip(ids, data[:660], strict=True))
    params = SEARCH_PARAMS.get(index_type, {})
    for query in data[660:665]:
        found = [h.id for h in col.search(query[None, :], k, params=params)[0]]
        truth = exact_ids(vectors, query, k, metric)
        assert found == truth  # recall 1.0, in exact order
    col.store.close()


op = st.tuples(st.sampled_from(["upsert", "delete"]), st.integers(0, 39), st.integers(0, 699))


@PROFILE
@given(
    data=vectors_strategy,
    index_type=st.sampled_from(available_indexes()),
    ops=st.lists(op, min_size=1, max_size=60),
)
def test_upsert_delete_upsert_never_stale(
    data: np.ndarray, index_type: str, ops: list[tuple[str, int, int]]
) -> None:
    col = collection(index_type, "l2")
    live: dict[str, np.ndarray] = {}
    for kind, key, row in ops:
        pid = f"id{key}"
        if kind == "upsert":
            col.upsert([pid], data[row : row + 1], [{"row": row}])
            live[pid] = data[row]
        else:
            col.delete([pid])
            live.pop(pid, None)
    assert col.count() == len(live)
    if live:
        queries = data[:3]
        found = col.search(queries, 50, params=SEARCH_PARAMS.get(index_type, {}))
        for query, hits in zip(queries, found, strict=True):
            assert sorted(h.id for h in hits) == sorted(live)  # all live, none stale/twice
            for h in hits:  # payload and score belong to the latest upsert of that id
                assert np.array_equal(data[h.payload["row"]], live[h.id])
                assert h.score == pytest.approx(-np.linalg.norm(live[h.id] - query), abs=1e-3)
    col.store.close()


KEYS = ["color", "size", "tags", "meta.level"]
CLAUSES = ("must", "should", "must_not")
scalar = st.one_of(st.sampled_from(["red", "blue", "green"]), st.integers(0, 5), st.booleans())


def payload_strategy() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "color": st.sampled_from(["red", "blue", "green"]),
            "size": st.one_of(st.integers(0, 10), st.floats(0, 10, allow_nan=False)),
            "tags": st.lists(scalar, max_size=3),
            "meta": st.fixed_dictionaries({}, optional={"level": st.integers(0, 3)}),
        },
    )


condition = st.one_of(
    st.builds(lambda k, v: {"key": k, "match": {"value": v}}, st.sampled_from(KEYS), scalar),
    st.builds(
        lambda k, vs: {"key": k, "match": {"any": vs}},
        st.sampled_from(KEYS),
        st.one_of(
            st.lists(st.sampled_from(["red", "blue"]), max_size=2),
            st.lists(st.integers(0, 5), max_size=2),
        ),
    ),
    st.builds(
        lambda k, vs: {"key": k, "match": {"except": vs}},
        st.sampled_from(KEYS),
        st.lists(st.sampled_from(["red", "green"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda k, lo, hi: {"key": k, "range": {"gte": lo, "lt": hi}},
        st.sampled_from(["size", "meta.level", "tags"]),
        st.integers(0, 5),
        st.floats(2, 11, allow_nan=False),
    ),
)
filters = st.recursive(
    st.fixed_dictionaries({}, optional={c: st.lists(condition, max_size=3) for c in CLAUSES}),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            c: st.lists(st.one_of(condition, inner), max_size=2)
            for c in ("must", "should", "must_not")
        },
    ),
    max_leaves=6,
)


# hnsw: filters compiled to SQL over the store; milvus: translated and evaluated inside Milvus
@pytest.mark.parametrize("index_type", ["hnsw", "milvus"])
@PROFILE
@given(payloads=st.lists(payload_strategy(), min_size=1, max_size=40), flt=filters)
def test_filters_equal_brute_force(
    index_type: str, payloads: list[dict[str, Any]], flt: dict[str, Any]
) -> None:
    col = collection(index_type)
    ids = [f"p{i}" for i in range(len(payloads))]
    vectors = np.random.default_rng(0).normal(size=(len(ids), DIM)).astype(np.float32)
    col.upsert(ids, vectors, payloads)
    expected = {pid for pid, p in zip(ids, payloads, strict=True) if evaluate_filter(flt, p)}
    assert col.count(flt) == len(expected)
    hits = col.search(vectors[:1], len(ids), filter=flt)[0]
    assert {h.id for h in hits} == expected
    col.store.close()

"""Payload indexes inside a Collection: declared, persisted, kept current, and answering filters
exactly as the SQLite path does, across writes, deletes by filter and restarts."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import Catalog, Collection, CollectionConfig
from index.errors import InvalidCollectionConfig, PayloadIndexNotFound
from index.filter_sql import compile_filter
from index.filters import parse_filter

DIM = 4
FIELDS = {"a": "keyword", "b": "integer", "c": "bool", "f": "float", "n.x": "integer"}
MATCHABLE = [k for k, t in FIELDS.items() if t != "float"]
RANGEABLE = [k for k, t in FIELDS.items() if t in ("integer", "float")]

# JSON-type hazards: 1 vs 1.0 vs true, 64-bit edges and past them, arrays, objects, nulls
COMMON = st.sampled_from(["x", "y", 0, 1, 2, True, 1.5])
RARE = st.sampled_from(["1", "", -3, 2**63 - 1, 2**64, 1.0, -0.0, None])
SCALARS = COMMON | COMMON | RARE
VALUES = SCALARS | SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.just("x"), SCALARS)
PAYLOADS = st.fixed_dictionaries(
    {"a": VALUES, "b": VALUES}, optional={"c": VALUES, "f": VALUES, "n": VALUES}
)
# whole points p0..p11, and parts p0#0, p0#1 ... that an upsert of their whole replaces
IDS = st.integers(0, 11).flatmap(
    lambda i: st.sampled_from([f"p{i}", f"p{i}#0", f"p{i}#1"]) if i < 4 else st.just(f"p{i}")
)
MATCHES = (
    st.builds(lambda v: {"value": v}, st.sampled_from(["x", "y", "1", 0, 1, 2, True, False]))
    | st.builds(lambda v: {"any": v}, st.lists(st.sampled_from(["x", "y", ""]), max_size=2))
    | st.builds(lambda v: {"except": v}, st.lists(st.sampled_from([0, 1, 2, -3]), max_size=2))
)
BOUNDS = st.sampled_from([-3, 0, 1, 1.0, 1.5, 2, 2**63 - 1, 1.8e19])
RANGES = st.dictionaries(
    st.sampled_from(["gt", "gte", "lt", "lte"]), BOUNDS, min_size=1, max_size=2
)
CONDITIONS = st.builds(
    lambda k, m: {"key": k, "match": m}, st.sampled_from(MATCHABLE), MATCHES
) | st.builds(lambda k, r: {"key": k, "range": r}, st.sampled_from(RANGEABLE), RANGES)
FILTERS = st.recursive(
    st.dictionaries(
        st.sampled_from(["must", "should", "must_not"]),
        st.lists(CONDITIONS, min_size=1, max_size=2),
        min_size=1,
    ),
    lambda inner: st.dictionaries(
        st.sampled_from(["must", "should", "must_not"]),
        st.lists(CONDITIONS | inner, min_size=1, max_size=2),
        min_size=1,
    ),
    max_leaves=3,
)
POINTS = st.lists(st.tuples(IDS, PAYLOADS), min_size=1, max_size=8)
UPSERTS = st.tuples(st.just("upsert"), POINTS)
OPS = st.one_of(
    UPSERTS,
    UPSERTS,
    UPSERTS,
    st.tuples(st.just("delete"), st.lists(IDS, max_size=3)),
    st.tuples(st.just("delete_where"), FILTERS),
    st.tuples(st.just("restart"), st.none()),
    st.tuples(st.just("declare"), st.sampled_from(sorted(FIELDS))),
    st.tuples(st.just("drop"), st.sampled_from(sorted(FIELDS))),
)


def _with_source(point_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    # a part's payload names its whole, as service.parts writes it
    return {**payload, "source_id": point_id.split("#")[0]} if "#" in point_id else payload


def _open(root: Path, declared: dict[str, str]) -> tuple[Catalog, Collection, Collection]:
    """The collection `idx` with payload indexes and its twin `plain` without."""
    catalog = Catalog(root)
    if "idx" not in catalog.names():
        catalog.create(CollectionConfig("plain", DIM, index_type="flat"))
        col = catalog.create(CollectionConfig("idx", DIM, index_type="flat"))
        for key, type_ in declared.items():
            col.create_payload_index(key, type_)
    return catalog, catalog.get("idx"), catalog.get("plain")


def _sqlite_ids(col: Collection, raw: dict[str, Any]) -> set[str]:
    flt = parse_filter(raw)
    assert flt is not None
    labels = col.store.labels_matching(*compile_filter(flt))
    return {p.id for p in col.store.by_labels(labels.tolist())}


def _check(idx: Collection, plain: Collection, raw: dict[str, Any], query: np.ndarray) -> bool:
    """Both collections and the SQLite path agree on `raw`; True when the index answered it."""
    flt = parse_filter(raw)
    assert flt is not None
    covered = set(_keys(raw)) <= set(idx.payload_indexes)
    index = idx._payload_index  # noqa: SLF001 - which path answers is what is under test
    assert covered == (index is not None and index.covers(flt))
    expected = _sqlite_ids(idx, raw)
    assert _sqlite_ids(plain, raw) == expected
    assert idx.count(raw) == plain.count(raw) == len(expected)
    hits = idx.search(query, 100, filter=raw, with_payload=False)[0]
    twin = plain.search(query, 100, filter=raw, with_payload=False)[0]
    # the same hits and scores; the plans score with different float32 kernels (a BLAS matrix
    # product or hnswlib's distance), so scores may differ in the last bits and near-ties swap
    assert {h.id for h in hits} == {h.id for h in twin} == expected
    theirs = {h.id: h.score for h in twin}
    assert all(abs(h.score - theirs[h.id]) <= 1e-5 for h in hits)
    assert all(a.score >= b.score - 1e-5 for a, b in zip(hits, hits[1:], strict=False))
    return covered


def _keys(raw: dict[str, Any]) -> list[str]:
    return [
        key
        for items in raw.values()
        for item in items
        for key in (_keys(item) if "key" not in item else [item["key"]])
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # two upserts first, so that most checks run on a populated collection
    ops=st.tuples(UPSERTS, UPSERTS, st.lists(OPS, min_size=1, max_size=10)).map(
        lambda t: [t[0], t[1], *t[2]]
    ),
    checks=st.lists(FILTERS, min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_index_and_sqlite_agree_under_writes_and_restarts(
    ops: list[tuple[str, Any]], checks: list[dict[str, Any]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(1, DIM)).astype(np.float32)
    with tempfile.TemporaryDirectory() as root:
        catalog, idx, plain = _open(Path(root), FIELDS)
        try:
            covered = 0
            for op, arg in ops:
                if op == "upsert":
                    ids = [i for i, _ in arg]
                    payloads = [_with_source(i, p) for i, p in arg]
                    vectors = rng.normal(size=(len(ids), DIM)).astype(np.float32)
                    for col in (idx, plain):
                        col.upsert(ids, vectors, payloads)
                elif op == "delete":
                    assert idx.delete(arg) == plain.delete(arg)
                elif op == "delete_where":
                    assert idx.delete_where(arg) == plain.delete_where(arg)
                elif op == "restart":
                    catalog.close()
                    catalog, idx, plain = _open(Path(root), {})
                elif op == "declare":
                    idx.create_payload_index(arg, FIELDS[arg])
                elif arg in idx.payload_indexes:
                    idx.drop_payload_index(arg)
                assert idx.count() == plain.count()
                for raw in checks:
                    covered += _check(idx, plain, raw, query)
            # every field declared again: each check is answered by the index
            for key, type_ in FIELDS.items():
                idx.create_payload_index(key, type_)
            assert all(_check(idx, plain, raw, query) for raw in checks)
        finally:
            catalog.close()


def test_covered_filters_never_reach_sqlite(tmp_path: Path, monkeypatch: Any) -> None:
    catalog = Catalog(tmp_path)
    col = catalog.create(CollectionConfig("c", DIM, index_type="hnsw"))
    col.create_payload_index("group", "keyword")
    n = 300
    vectors = np.random.default_rng(1).normal(size=(n, DIM)).astype(np.float32)
    col.upsert([f"p{i}" for i in range(n)], vectors, [{"group": f"g{i % 3}"} for i in range(n)])
    answered = col.count({"must": [{"key": "group", "match": {"value": "g1"}}]})

    def scan(*_: Any) -> Any:
        raise AssertionError("a covered filter was evaluated by SQLite")

    monkeypatch.setattr(col.store, "labels_matching", scan)
    flt = {"must": [{"key": "group", "match": {"value": "g1"}}]}
    assert answered == col.count(flt) == n // 3
    hits = col.search(vectors[:1], 10, filter=flt)[0]
    assert len(hits) == 10 and all(h.payload == {"group": "g1"} for h in hits)
    assert col.delete_where({"must": [{"key": "group", "match": {"any": ["g0", "g2"]}}]}) == 200
    with pytest.raises(AssertionError, match="SQLite"):  # an unindexed key still goes there
        col.count({"must": [{"key": "other", "match": {"value": 1}}]})
    monkeypatch.undo()
    assert col.count() == col.count(flt) == 100
    catalog.close()


def test_declared_schema_persists_and_keeps_the_snapshot(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    col = catalog.create(CollectionConfig("c", DIM, index_type="hnsw"))
    vectors = np.random.default_rng(2).normal(size=(50, DIM)).astype(np.float32)
    col.upsert([f"p{i}" for i in range(50)], vectors, [{"n": i} for i in range(50)])
    col.create_payload_index("n", "integer")
    catalog.close()

    catalog = Catalog(tmp_path)
    col = catalog.get("c")
    # the index snapshot was loaded as it was: declaring an index is not a config change
    assert not col._dirty  # noqa: SLF001
    assert col.payload_indexes == {"n": "integer"}
    assert col.count({"must": [{"key": "n", "range": {"gte": 10, "lt": 20}}]}) == 10
    col.drop_payload_index("n")
    with pytest.raises(PayloadIndexNotFound):
        col.drop_payload_index("n")
    catalog.close()
    col = Catalog(tmp_path).get("c")
    assert col.payload_indexes == {} and col._payload_index is None  # noqa: SLF001
    col.close()


@pytest.mark.parametrize(
    ("key", "type_", "field"),
    [
        ("a", "text", "field_schema"),
        ("a", "Keyword", "field_schema"),
        ("", "keyword", "field_name"),
        ('a"b', "keyword", "field_name"),
        ("a\ud800", "keyword", "field_name"),
        ("k" * 1025, "keyword", "field_name"),  # created, then no DELETE URL could carry it
    ],
)
def test_bad_declarations_are_refused(tmp_path: Path, key: str, type_: str, field: str) -> None:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM, index_type="flat"))
    with pytest.raises(InvalidCollectionConfig) as err:
        col.create_payload_index(key, type_)
    assert err.value.field == field and col.payload_indexes == {}
    col.close()

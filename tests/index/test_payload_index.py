"""PayloadIndex against the SQLite filter path (the reference), plus coverage and faiss bitmaps."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index import sorted_labels
from index.errors import InvalidCollectionConfig
from index.filter_model import Filter
from index.filter_sql import compile_filter
from index.payload_index import PayloadIndex
from index.sorted_labels import to_bitmap
from index.store import PointStore

FIELDS = {
    "a": "keyword",
    "b": "integer",
    "c": "bool",
    "f": "float",
    "n": "integer",  # sometimes an object: json_each then walks its members
    "n.x": "integer",
    "n.y": "keyword",
    "absent": "keyword",
}
MATCHABLE = [k for k, t in FIELDS.items() if t in ("keyword", "integer", "bool")]
RANGEABLE = [k for k, t in FIELDS.items() if t in ("integer", "float")]

# Payload values: ints that look like bools, floats equal to ints, 64-bit edges and beyond.
TEXTS = st.sampled_from(["a", "b", "1", "true", ""])
INT64S = st.sampled_from([-2, -1, 0, 0, 1, 1, 2, 3, 2**53 + 1, 2**63 - 1, -(2**63)])
FLOATS = st.sampled_from([0.0, -0.0, 1.0, 1.5, 2.0, -2.5, 2.0**53, 1e300])
SCALARS = TEXTS | INT64S | st.sampled_from([2**64, 10**400]) | FLOATS | st.booleans() | st.none()
ELEMENTS = SCALARS | st.lists(SCALARS, max_size=2) | st.dictionaries(TEXTS, SCALARS, max_size=2)
VALUES = st.one_of(
    SCALARS, SCALARS, st.lists(ELEMENTS, max_size=4), st.dictionaries(TEXTS, SCALARS, max_size=2)
)
NESTED = st.dictionaries(st.sampled_from(["x", "y"]), VALUES, max_size=2)
PAYLOADS = st.fixed_dictionaries(
    {}, optional={"a": VALUES, "b": VALUES, "c": VALUES, "f": VALUES, "n": NESTED | VALUES}
)

LISTS = st.lists(TEXTS, max_size=3) | st.lists(INT64S, max_size=3)
MATCHES = st.builds(lambda v: {"value": v}, TEXTS | INT64S | st.booleans()) | st.builds(
    lambda k, v: {k: v}, st.sampled_from(["any", "except"]), LISTS
)
NUMBERS = INT64S | FLOATS | st.sampled_from([0.5, -1.5, 2.0**53 + 2, 9.3e18])
RANGES = st.lists(
    st.sampled_from(["gt", "gte", "lt", "lte"]), min_size=1, max_size=2, unique=True
).flatmap(lambda names: st.fixed_dictionaries(dict.fromkeys(names, NUMBERS)))
CONDITIONS = st.builds(
    lambda k, m: {"key": k, "match": m}, st.sampled_from(MATCHABLE), MATCHES
) | st.builds(lambda k, r: {"key": k, "range": r}, st.sampled_from(RANGEABLE), RANGES)
CLAUSES = ("must", "should", "must_not")


def _filter_of(item: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    # one clause holds conditions; the others may be absent, null or empty lists
    clause = st.none() | st.just([]) | st.lists(item, min_size=1, max_size=2)
    return st.sampled_from(CLAUSES).flatmap(
        lambda main: st.fixed_dictionaries(
            {main: st.lists(item, min_size=1, max_size=2)},
            optional={c: clause for c in CLAUSES if c != main},
        )
    )


FILTERS = st.recursive(
    _filter_of(CONDITIONS), lambda inner: _filter_of(CONDITIONS | inner), max_leaves=5
).map(Filter.model_validate)
WRITES = st.tuples(
    st.booleans(),  # delete rather than upsert
    st.lists(st.tuples(st.integers(0, 24), PAYLOADS), max_size=6, unique_by=lambda t: t[0]),
)


@contextmanager
def store_and_index() -> Iterator[tuple[PointStore, PayloadIndex]]:
    with tempfile.TemporaryDirectory() as root:
        store = PointStore(Path(root) / "points.sqlite", dim=2)
        try:
            yield store, PayloadIndex(FIELDS)
        finally:
            store.close()


def upsert(store: PointStore, index: PayloadIndex, points: Sequence[tuple[int, dict]]) -> None:
    ids = [f"p{i}" for i, _ in points]
    payloads = [p for _, p in points]
    removed, added = store.upsert(ids, np.zeros((len(ids), 2), np.float32), payloads)
    index.remove(removed)
    index.add(added, payloads)


def assert_same(store: PointStore, index: PayloadIndex, flt: Filter) -> None:
    assert index.covers(flt)
    live = np.array(sorted(store.label_ids()), np.int64)
    expected = np.sort(store.labels_matching(*compile_filter(flt)))
    got = index.matching(flt, live)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=100, deadline=None)
@given(
    first=st.lists(
        st.tuples(st.integers(0, 24), PAYLOADS), min_size=8, max_size=20, unique_by=lambda t: t[0]
    ),
    steps=st.lists(st.tuples(WRITES, FILTERS), min_size=1, max_size=4),
    fold_at=st.sampled_from([0, 2, 4096]),
)
def test_matching_equals_sqlite_under_writes(
    first: list[tuple[int, dict]], steps: list[tuple[tuple[bool, list], Filter]], fold_at: int
) -> None:
    # low thresholds fold pending number writes into the sorted base at (nearly) every read
    with store_and_index() as (store, index), patch.object(sorted_labels, "_DELTA_MIN", fold_at):
        upsert(store, index, first)
        for (delete, points), flt in steps:
            assert_same(store, index, flt)
            if delete:
                index.remove(store.delete([f"p{i}" for i, _ in points]))
            else:
                upsert(store, index, points)
            assert_same(store, index, flt)


TYPED = [
    {"v": 1},
    {"v": 1.0},
    {"v": True},
    {"v": "1"},
    {"v": [1, "x"]},
    {"v": {"k": 1}},
    {"v": []},
    {"v": None},
    {},
    {"v": [[1]]},
    {"v": [False, 0]},
    {"v": [None]},
    {"v": [2, 2.5]},
]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"match": {"value": 1}}, [1, 5]),
        ({"match": {"value": True}}, [3]),
        ({"match": {"value": False}}, [11]),
        ({"match": {"value": 0}}, [11]),
        ({"match": {"value": "1"}}, [4]),
        ({"match": {"any": [1, 0]}}, [1, 5, 11]),
        ({"match": {"any": []}}, []),
        ({"match": {"except": []}}, [1, 2, 3, 4, 5, 6, 10, 11, 12, 13]),
        ({"match": {"except": [1]}}, [2, 3, 4, 5, 6, 10, 11, 12, 13]),
        ({"match": {"except": ["1", "x"]}}, [1, 2, 3, 5, 6, 10, 11, 12, 13]),
        ({"range": {"gte": 1}}, [1, 2, 5, 13]),
        ({"range": {"gte": 1.0}}, [1, 2, 5, 13]),
        ({"range": {"gt": 1.0}}, [13]),
        ({"range": {"lt": 1}}, [11]),
        ({"range": {"lt": 2.0}}, [1, 2, 5, 11]),
        ({"range": {"lte": 2}}, [1, 2, 5, 11, 13]),
        ({"range": {"gt": 0.5, "lte": 1}}, [1, 2, 5]),
        ({"range": {"gt": 2.25, "lt": 3}}, [13]),
    ],
)
def test_json_types_stay_apart(condition: dict[str, Any], expected: list[int]) -> None:
    with store_and_index() as (store, _):
        index = PayloadIndex({"v": "integer"})
        upsert(store, index, list(enumerate(TYPED)))
        flt = Filter.model_validate({"must": [{"key": "v", **condition}]})
        live = np.arange(1, len(TYPED) + 1)
        np.testing.assert_array_equal(index.matching(flt, live), expected)
        assert_same(store, index, flt)


def test_empty_clauses_follow_the_sql_compiler() -> None:
    index = PayloadIndex({"k": "keyword"})
    index.add(np.array([3, 5, 7]), [{"k": "a"}, {"k": "b"}, {}])
    live = np.array([3, 5, 7, 9])
    for raw, expected in [
        ({}, [3, 5, 7, 9]),
        ({"must": [], "should": None, "must_not": []}, [3, 5, 7, 9]),
        ({"should": []}, [3, 5, 7, 9]),  # no constraint, as Qdrant's engine
        ({"must_not": [{"should": []}]}, []),
        ({"must": [{}]}, [3, 5, 7, 9]),
        ({"must_not": [{"key": "k", "match": {"value": "a"}}]}, [5, 7, 9]),
        ({"should": [{"key": "k", "match": {"any": []}}]}, []),
        ({"must_not": [{"should": [{"key": "k", "match": {"except": []}}]}]}, [7, 9]),
    ]:
        np.testing.assert_array_equal(index.matching(Filter.model_validate(raw), live), expected)


@pytest.mark.parametrize(
    ("raw", "covered"),
    [
        ({}, True),
        ({"must": [{"key": "color", "match": {"value": "red"}}]}, True),
        ({"must": [{"key": "n", "range": {"gt": 1}}, {"key": "n", "match": {"any": [1]}}]}, True),
        ({"should": [{"key": "price", "range": {"lt": 9.5}}]}, True),
        ({"must_not": [{"key": "ok", "match": {"value": True}}]}, True),
        ({"must": [{"should": [{"key": "meta.k", "match": {"except": ["x"]}}]}]}, True),
        ({"must": [{"key": "other", "match": {"value": "red"}}]}, False),
        ({"must": [{"key": "color", "range": {"gt": 1}}]}, False),
        ({"must": [{"key": "price", "match": {"value": 1}}]}, False),
        ({"must": [{"key": "ok", "range": {"gte": 0}}]}, False),
        ({"must": [{"key": "meta", "match": {"value": "x"}}]}, False),
        ({"must": [{"must_not": [{"should": [{"key": "nope", "match": {"value": 1}}]}]}]}, False),
    ],
)
def test_covers(raw: dict[str, Any], covered: bool) -> None:
    index = PayloadIndex(
        {"color": "keyword", "n": "integer", "price": "float", "ok": "bool", "meta.k": "keyword"}
    )
    flt = Filter.model_validate(raw)
    assert index.covers(flt) is covered
    if not covered:
        with pytest.raises(ValueError, match="no declared payload index"):
            index.matching(flt, np.arange(3))


def test_add_field_indexes_existing_payloads() -> None:
    payloads = [{"tag": "x", "n": 1}, {"tag": ["y", "x"]}, {"n": 5}]
    labels = np.array([1, 2, 3])
    index = PayloadIndex()
    index.add(labels, payloads)
    flt = Filter.model_validate({"must": [{"key": "tag", "match": {"value": "x"}}]})
    assert not index.covers(flt)
    index.add_field("tag", "keyword", labels, payloads)
    assert index.covers(flt)
    assert index.describe() == {"tag": "keyword"}
    np.testing.assert_array_equal(index.matching(flt, labels), [1, 2])
    index.add(np.array([4]), [{"tag": "x"}])  # later writes reach the new field
    np.testing.assert_array_equal(index.matching(flt, np.arange(1, 5)), [1, 2, 4])
    index.drop_field("tag")
    assert not index.covers(flt)
    assert index.describe() == {}


@pytest.mark.parametrize("fold_at", [2, 4096])
def test_re_adding_a_label_replaces_it_and_remove_forgets_it(fold_at: int) -> None:
    index = PayloadIndex({"t": "keyword", "n": "integer"})
    live = np.array([1, 2])

    def labels(raw: dict[str, Any]) -> list[int]:
        return index.matching(Filter.model_validate({"must": [raw]}), live).tolist()

    # fold_at=2: the first read folds every write into the sorted base; the next two writes stay
    # pending beside it, so label 1's stale base entry must be masked, not returned
    with patch.object(sorted_labels, "_DELTA_MIN", fold_at):
        index.add(np.arange(10, 26), [{"n": 100}] * 16)
        index.add(np.array([1, 2]), [{"t": "x", "n": 1}, {"t": "x", "n": 2}])
        index.add(np.array([1]), [{"t": "y", "n": 7}])
        assert labels({"key": "t", "match": {"value": "x"}}) == [2]
        assert labels({"key": "t", "match": {"value": "y"}}) == [1]
        assert labels({"key": "n", "range": {"lte": 2}}) == [2]
        index.remove(np.array([1, 99]))
        assert labels({"key": "t", "match": {"value": "y"}}) == []
        assert labels({"key": "n", "range": {"gte": 0}}) == [2]
        index.add(np.array([1]), [{"t": "z", "n": 0}])
        assert labels({"key": "n", "range": {"gte": 5}}) == []
        assert labels({"key": "n", "range": {"lt": 2}}) == [1]


def test_unsorted_universe_is_accepted() -> None:
    index = PayloadIndex({"t": "keyword"})
    index.add(np.array([4, 1, 9]), [{"t": "x"}, {"t": "x"}, {"t": "y"}])
    flt = Filter.model_validate({"must_not": [{"key": "t", "match": {"value": "y"}}]})
    np.testing.assert_array_equal(index.matching(flt, np.array([9, 4, 2, 1, 4])), [1, 2, 4])


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(InvalidCollectionConfig, match="must be one of keyword, integer"):
        PayloadIndex({"t": "text"})
    with pytest.raises(InvalidCollectionConfig, match="non-empty"):
        PayloadIndex().add_field("", "keyword", np.array([]), [])
    with pytest.raises(ValueError, match="2 labels but 1 payloads"):
        PayloadIndex({"t": "keyword"}).add(np.array([1, 2]), [{}])


def test_bitmap_layout() -> None:
    bitmap = to_bitmap(np.array([0, 2, 9]), 10)
    assert bitmap.dtype == np.uint8
    assert bitmap.tolist() == [0b0000_0101, 0b0000_0010]
    assert [(bitmap[i >> 3] >> (i & 7)) & 1 for i in range(10)] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        to_bitmap(np.array([10]), 10)


def test_faiss_searches_only_the_bitmap() -> None:
    n, dim = 203, 8
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    flat = faiss.IndexFlatL2(dim)
    flat.add(vectors)  # ids 0..n-1
    index = PayloadIndex({"group": "integer"})
    index.add(np.arange(n), [{"group": i % 7} for i in range(n)])
    flt = Filter.model_validate({"must": [{"key": "group", "match": {"any": [2, 5]}}]})
    allowed = index.matching(flt, np.arange(n))
    bitmap = to_bitmap(allowed, n)
    # faiss's first argument is the bitmap's length in bytes
    params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)))
    _, ids = flat.search(vectors[:5], n, params=params)
    for row in ids:
        assert sorted(row[row >= 0].tolist()) == allowed.tolist()


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "discard", "update"]), st.integers(0, 300))))
def test_label_set_bulk_update_agrees_with_single_writes(ops: list[tuple[str, int]]) -> None:
    # `update` (a bulk merge, as opening a collection indexes its points) after pending single
    # adds and discards leaves the same sorted labels as a Python set
    labels, expected = sorted_labels.LabelSet(), set()
    for op, label in ops:
        if op == "add" and label not in expected:
            labels.add(label)
            expected.add(label)
        elif op == "discard" and label in expected:
            labels.discard(label)
            expected.discard(label)
        elif op == "update":
            fresh = [x for x in range(label, label + 70, 7) if x not in expected]
            labels.update(fresh[::-1])  # any order
            expected.update(fresh)
        assert len(labels) == len(expected)
    np.testing.assert_array_equal(labels.array(), np.array(sorted(expected), np.int64))

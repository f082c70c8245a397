"""Collections: upsert semantics, deletes, filters, persistence and crash replay."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import evaluate_filter

from index import Catalog, CollectionConfig
from index.errors import (
    CollectionExists,
    CollectionNotFound,
    InvalidCollectionName,
    InvalidFilter,
    InvalidIndexParams,
)

DIM = 16
RNG = np.random.default_rng(7)
VECTORS = RNG.normal(size=(400, DIM)).astype(np.float32)
PAYLOADS = [
    {"group": ["a", "b", "c"][i % 3], "n": i, "tags": [f"t{i % 5}", "all"]} for i in range(400)
]
IDS = [f"p{i}" for i in range(400)]


def make(tmp_path: Path, index_type: str = "hnsw", metric: str = "cosine"):  # type: ignore[no-untyped-def]
    catalog = Catalog(tmp_path)
    col = catalog.create(CollectionConfig("c", DIM, metric=metric, index_type=index_type))
    col.upsert(IDS, VECTORS, PAYLOADS)
    return catalog, col


def ids_of(hits: list[Any]) -> list[str]:
    return [h.id for h in hits]


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_upsert_replaces_without_duplicates(tmp_path: Path, index_type: str) -> None:
    _, col = make(tmp_path, index_type)
    col.upsert(["p1"], VECTORS[5:6], [{"moved": True}])
    hits = col.search(VECTORS[5:6], 5)[0]
    assert ids_of(hits).count("p1") == 1 and {"p1", "p5"} <= set(ids_of(hits)[:2])
    assert col.get(["p1"])[0].payload == {"moved": True}
    assert col.count() == 400


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_delete_is_immediate(tmp_path: Path, index_type: str) -> None:
    _, col = make(tmp_path, index_type)
    assert col.delete(["p5", "nope"]) == 1
    assert "p5" not in ids_of(col.search(VECTORS[5:6], 10)[0])
    assert col.count() == 399 and col.get(["p5"]) == []


def test_repeated_id_in_one_batch_keeps_last(tmp_path: Path) -> None:
    _, col = make(tmp_path)
    fresh = np.random.default_rng(99).normal(size=(2, DIM)).astype(np.float32)
    assert col.upsert(["x", "x"], fresh, [{"v": 1}, {"v": 2}]) == 1
    assert col.get(["x"])[0].payload == {"v": 2}
    assert ids_of(col.search(fresh[1:2], 1)[0]) == ["x"]


def test_upsert_delete_upsert_never_stale(tmp_path: Path) -> None:
    _, col = make(tmp_path)
    rng = random.Random(0)
    live: dict[str, int] = {pid: i for i, pid in enumerate(IDS)}
    for _ in range(30):
        pid = rng.choice(IDS)
        if rng.random() < 0.5:
            col.delete([pid])
            live.pop(pid, None)
        else:
            row = rng.randrange(400)
            col.upsert([pid], VECTORS[row : row + 1], [{"row": row}])
            live[pid] = row
    for pid, row in list(live.items())[:50]:
        hits = col.search(VECTORS[row : row + 1], 400)[0]
        assert set(ids_of(hits)) == set(live)  # every live id exactly once, nothing deleted
        assert len(hits) == len(live)
        assert pid in ids_of(hits)


def brute_force(flt: dict[str, Any]) -> set[str]:
    return {pid for pid, p in zip(IDS, PAYLOADS, strict=True) if evaluate_filter(flt, p)}


FILTERS = [
    {"must": [{"key": "group", "match": {"value": "a"}}]},
    {"must": [{"key": "tags", "match": {"value": "t3"}}]},
    {"must": [{"key": "n", "range": {"gte": 10, "lt": 60}}]},
    {"should": [{"key": "group", "match": {"value": "b"}}, {"key": "n", "range": {"lt": 5}}]},
    {"must_not": [{"key": "group", "match": {"any": ["a", "b"]}}]},
    {
        "must": [{"key": "group", "match": {"except": ["a"]}}],
        "must_not": [{"key": "tags", "match": {"value": "t1"}}],
    },
    {
        "must": [
            {"should": [{"key": "tags", "match": {"any": ["t0", "t2"]}}]},
            {"key": "n", "range": {"gt": 300}},
        ]
    },
]


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
@pytest.mark.parametrize("flt", FILTERS)
def test_filters_equal_brute_force(tmp_path: Path, index_type: str, flt: dict[str, Any]) -> None:
    _, col = make(tmp_path, index_type)
    expected = brute_force(flt)
    hits = col.search(VECTORS[:1], 400, filter=flt)[0]
    assert set(ids_of(hits)) == expected


def test_selective_filter_on_large_index_still_returns_k(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    col = catalog.create(CollectionConfig("big", DIM, index_type="hnsw"))
    n = 6000  # above the exact-scan threshold, so the ANN search applies the filter itself
    vectors = np.random.default_rng(3).normal(size=(n, DIM)).astype(np.float32)
    col.upsert([str(i) for i in range(n)], vectors, [{"g": i % 2} for i in range(n)])
    hits = col.search(vectors[:1], 50, filter={"must": [{"key": "g", "match": {"value": 1}}]})[0]
    assert len(hits) == 50 and all(h.payload["g"] == 1 for h in hits)


def test_invalid_filter_is_rejected(tmp_path: Path) -> None:
    _, col = make(tmp_path)
    with pytest.raises(InvalidFilter, match=re.escape("must[0].match.regex")):
        col.search(VECTORS[:1], 5, filter={"must": [{"key": "g", "match": {"regex": "x"}}]})
    with pytest.raises(InvalidFilter):
        col.search(VECTORS[:1], 5, filter={"must": [{"key": "n", "range": {"gt": "ten"}}]})


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_restart_loads_snapshot_with_same_answers(tmp_path: Path, index_type: str) -> None:
    catalog, col = make(tmp_path, index_type)
    col.delete(["p0"])
    before = [ids_of(h) for h in col.search(VECTORS[:20], 10)]
    catalog.close()
    assert (tmp_path / "collections" / "c" / "index" / "index.json").exists()
    reopened = Catalog(tmp_path).get("c")
    assert [ids_of(h) for h in reopened.search(VECTORS[:20], 10)] == before
    assert reopened.count() == 399


def test_crash_without_snapshot_replays_from_store(tmp_path: Path) -> None:
    catalog, col = make(tmp_path)
    catalog.close()  # snapshot now holds 400 points
    col = Catalog(tmp_path).get("c")
    col.upsert(["late"], VECTORS[9:10] * 3, [{}])
    col.delete(["p1", "p2"])
    col.store.close()  # "crash": no snapshot written after these writes
    recovered = Catalog(tmp_path).get("c")
    assert len(recovered.index) == recovered.count() == 399
    assert ids_of(recovered.search(VECTORS[9:10], 2)[0])[:2] in (["late", "p9"], ["p9", "late"])
    assert not {"p1", "p2"} & set(ids_of(recovered.search(VECTORS[1:3], 400)[0]))


def test_snapshot_of_other_config_is_rebuilt(tmp_path: Path) -> None:
    catalog, _ = make(tmp_path)
    catalog.close()
    meta = tmp_path / "collections" / "c" / "index" / "index.json"
    data = json.loads(meta.read_text())
    data["config"]["dim"] = 999
    meta.write_text(json.dumps(data))
    col = Catalog(tmp_path).get("c")
    assert len(col.index) == 400


def test_scroll_pages_cover_every_point_once(tmp_path: Path) -> None:
    _, col = make(tmp_path)
    seen: list[str] = []
    after = None
    while page := col.page(after, 64):
        seen += [p.id for p in page]
        after = page[-1].id
    assert sorted(seen) == sorted(IDS)


def test_catalog_errors(tmp_path: Path) -> None:
    catalog, _ = make(tmp_path)
    with pytest.raises(CollectionExists):
        catalog.create(CollectionConfig("c", DIM))
    for bad in ["../x", "a/b", "", "x" * 65, "sp ace", "ü"]:
        with pytest.raises(InvalidCollectionName):
            catalog.create(CollectionConfig(bad, DIM))
    with pytest.raises(InvalidIndexParams, match="M: Input should be greater") as info:
        catalog.create(CollectionConfig("d", DIM, index_params={"M": 0}))
    assert info.value.field == "index.params.M"
    catalog.drop("c")
    with pytest.raises(CollectionNotFound):
        catalog.get("c")
    assert not (tmp_path / "collections" / "c").exists()


def test_dropping_a_collection_linked_from_another_disk_removes_its_data(tmp_path: Path) -> None:
    """Its directory moved elsewhere and linked back: the drop answered done and left the data
    (and a `.trash-*` link every start tried to remove again)."""
    catalog = Catalog(tmp_path / "data")
    catalog.create(CollectionConfig("b", 4, "l2")).upsert(["x"], np.ones((1, 4), "f4"), [{}])
    catalog.close()
    elsewhere = tmp_path / "other-disk" / "b"
    elsewhere.parent.mkdir()
    (tmp_path / "data" / "collections" / "b").rename(elsewhere)
    (tmp_path / "data" / "collections" / "b").symlink_to(elsewhere, target_is_directory=True)
    catalog = Catalog(tmp_path / "data")
    assert catalog.get("b").count() == 1
    catalog.drop("b")
    assert not elsewhere.exists() and not list((tmp_path / "data" / "collections").iterdir())
    catalog.close()


def test_a_collection_folder_under_an_impossible_name_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backup restored as `b ü` was skipped without a word."""
    catalog = Catalog(tmp_path)
    catalog.create(CollectionConfig("b", 4, "l2")).upsert(["x"], np.ones((1, 4), "f4"), [{}])
    catalog.close()
    (tmp_path / "collections" / "b").rename(tmp_path / "collections" / "b ü")
    (tmp_path / "collections" / ".building-c").mkdir()  # an offline build's: not a word
    (tmp_path / "collections" / ".building-c" / "store.sqlite3").write_bytes(b"")
    with caplog.at_level("WARNING"):
        again = Catalog(tmp_path)
    assert again.names() == [] and "b ü holds a collection" in caplog.text
    assert ".building-c" not in caplog.text
    again.close()

"""An index snapshot belongs to the store it was built from: one copied in from another
collection (a backup restore mix-up), or one that records no store at all, is rebuilt from the
store with a warning rather than served."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index import Catalog, CollectionConfig

DIM, N = 16, 300
IDS = [f"p{i}" for i in range(N)]
VECTORS = {
    name: np.random.default_rng(seed).normal(size=(N, DIM)).astype(np.float32)
    for name, seed in (("a", 1), ("b", 2))
}
# settings under which a query equal to a stored vector finds that point first
PARAMS = {
    "hnsw": {"ef": 200},
    "flat": {},
    "faiss-hnsw": {"ef": 200},
    "ivf": {"nlist": 4, "nprobe": 4},
}


def build(data: Path, index_type: str, names: tuple[str, ...] = ("a", "b")) -> None:
    """Closed collections with the same config and ids, each with its own vectors."""
    catalog = Catalog(data)
    for name in names:
        config = CollectionConfig(name, DIM, index_type=index_type, index_params=PARAMS[index_type])
        catalog.create(config).upsert(IDS, VECTORS[name], [{}] * N)
    catalog.close()


def snapshot_meta(data: Path, name: str) -> Path:
    return data / "collections" / name / "index" / "index.json"


def self_hits(catalog: Catalog, name: str) -> list[str]:
    """The top hit of each of the collection's own vectors (its ids, if it serves itself)."""
    hits = catalog.get(name).search(VECTORS[name], 1, with_payload=False)
    return [h[0].id for h in hits]


def warnings_about(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"{name!r}" in r.getMessage()
    ]


@pytest.mark.parametrize("name_changed", ["as copied", "with its name changed to b's"])
@pytest.mark.parametrize("index_type", list(PARAMS))
def test_snapshot_copied_from_another_collection_is_rebuilt(
    tmp_path: Path, index_type: str, name_changed: str, caplog: pytest.LogCaptureFixture
) -> None:
    build(tmp_path, index_type)
    a, b = (tmp_path / "collections" / name / "index" for name in ("a", "b"))
    shutil.rmtree(b)
    shutil.copytree(a, b)  # a's sound snapshot, with only its name changed to b's
    swapped = {"as copied": False, "with its name changed to b's": True}[name_changed]
    if swapped:  # as copied (a's name in its config), it was rebuilt without a word
        meta = json.loads(snapshot_meta(tmp_path, "b").read_text())
        meta["config"]["name"] = "b"
        snapshot_meta(tmp_path, "b").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        catalog = Catalog(tmp_path)
    assert self_hits(catalog, "b") == IDS  # b's own points, not a's graph under b's ids
    assert self_hits(catalog, "a") == IDS
    (warning,) = warnings_about(caplog, "b")
    assert "rebuilding it from the store" in warning and "built from store" in warning
    assert warnings_about(caplog, "a") == []
    catalog.close()  # b's snapshot is written back, of b's store
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = Catalog(tmp_path)
    assert not caplog.records  # both load as they are
    assert self_hits(again, "b") == IDS


def test_snapshot_written_before_store_ids_is_rebuilt_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot of an older nestvec records no store: it cannot be told from a copied one."""
    build(tmp_path, "hnsw", ("a",))
    meta = json.loads(snapshot_meta(tmp_path, "a").read_text())
    del meta["store_id"]
    snapshot_meta(tmp_path, "a").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        catalog = Catalog(tmp_path)
    (warning,) = warnings_about(caplog, "a")
    assert "no store id" in warning
    assert self_hits(catalog, "a") == IDS
    catalog.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = Catalog(tmp_path)
    assert not caplog.records
    assert self_hits(again, "a") == IDS


def test_store_identity_is_written_once_and_given_to_older_stores(tmp_path: Path) -> None:
    build(tmp_path, "flat", ("a", "b"))
    store = tmp_path / "collections" / "a" / "store.sqlite3"

    def identities() -> tuple[str, str]:
        catalog = Catalog(tmp_path)
        found = catalog.get("a").store.store_id, catalog.get("b").store.store_id
        catalog.close()
        return found

    first = identities()
    assert first[0] != first[1] and identities() == first
    meta = json.loads(snapshot_meta(tmp_path, "a").read_text())
    assert meta["store_id"] == first[0]
    with sqlite3.connect(store) as db:  # a store made before identities
        db.execute("DELETE FROM config WHERE key = 'store_id'")
    db.close()
    given = identities()[0]
    assert given != first[0] and identities()[0] == given


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_store_restored_from_an_older_copy_is_not_served_the_newer_snapshot(
    tmp_path: Path, index_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's remedy for a damaged store is a backup; the newer snapshot held labels the
    restored store hands out again, so new points were found under old points' vectors."""
    build(tmp_path, index_type, ("a",))
    store = tmp_path / "collections" / "a" / "store.sqlite3"
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(store, backup)
    later = [f"q{i}" for i in range(N)]
    catalog = Catalog(tmp_path)
    catalog.get("a").upsert(later, VECTORS["b"], [{}] * N)
    catalog.close()  # its snapshot holds labels 1..2N
    shutil.copy(backup, store)
    fresh = np.random.default_rng(9).normal(size=(50, DIM)).astype(np.float32) + 50
    with caplog.at_level(logging.WARNING):
        Catalog(tmp_path).get("a").upsert([f"r{i}" for i in range(50)], fresh, [{}] * 50)
        catalog = Catalog(tmp_path)  # after a kill -9: no snapshot was written in between
    hits = catalog.get("a").search(fresh, 1, with_payload=False)
    assert [h[0].id for h in hits] == [f"r{i}" for i in range(50)]
    assert self_hits(catalog, "a") == IDS
    assert catalog.get("a").count() == N + 50
    warnings = warnings_about(caplog, "a")
    assert warnings and all("restored from an older copy" in w for w in warnings)
    catalog.close()

"""One collection whose store SQLite cannot read never stops the catalog: it is logged (name,
file, SQLite's message), skipped and left exactly as found, and the others are served."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index import Catalog, CollectionConfig
from index.errors import CollectionExists, CollectionUnavailable

DIM, N = 4, 100
VECTORS = np.array([[1, i, 0, 0] for i in range(N)], np.float32)
IDS = [f"p{i}" for i in range(N)]


def damaged(data: Path) -> Path:
    """Collections `bad` and `good`, closed; `bad`'s store truncated to 4096 bytes."""
    catalog = Catalog(data)
    for name in ("bad", "good"):
        catalog.create(CollectionConfig(name, DIM, index_type="flat")).upsert(
            IDS, VECTORS, [{}] * N
        )
    catalog.close()
    store = data / "collections" / "bad" / "store.sqlite3"
    with store.open("r+b") as f:
        f.truncate(4096)
    return store


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file under a directory with its sha256: what "left untouched" means."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_a_damaged_store_is_skipped_and_the_others_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = damaged(tmp_path)
    before = fingerprint(store.parent)
    with caplog.at_level(logging.WARNING):
        catalog = Catalog(tmp_path)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert "'bad'" in message and str(store) in message and "malformed" in message
    assert "\n" not in message
    assert catalog.names() == ["good"]
    hits = catalog.get("good").search(VECTORS[:5], 1, with_payload=False)
    assert [h[0].id for h in hits] == IDS[:5]
    with pytest.raises(CollectionUnavailable, match="collections/bad/store.sqlite3"):
        catalog.get("bad")
    with pytest.raises(CollectionExists, match="could not be opened"):
        catalog.create(CollectionConfig("bad", DIM, index_type="flat"))
    with pytest.raises(CollectionUnavailable):
        catalog.drop("bad")
    catalog.close()
    assert fingerprint(store.parent) == before  # no byte changed, no -wal/-shm left beside it


@pytest.mark.parametrize(
    ("key", "value", "index_type"),
    [
        ("metric", "{garbage", "flat"),  # not JSON
        ("metric", '"foo"', "flat"),
        ("dim", '"x"', "faiss-hnsw"),
        ("dim", "32", "faiss-hnsw"),  # the vectors are 4-d
        ("index_type", '"nope"', "flat"),
        ("index_params", '{"nlist": 0}', "ivf"),
        ("metric", None, "flat"),  # a lost row: served as cosine, an l2 collection included
    ],
)
def test_a_damaged_config_row_leaves_the_others_served(
    tmp_path: Path, key: str, value: str | None, index_type: str
) -> None:
    """Any of these stopped the whole catalog (the server did not start)."""
    catalog = Catalog(tmp_path)
    params = {"nlist": 2} if index_type == "ivf" else {}
    for name in ("bad", "good"):
        config = CollectionConfig(name, DIM, metric="l2", index_type=index_type)
        catalog.create(replace(config, index_params=params)).upsert(IDS, VECTORS, [{}] * N)
    catalog.close()
    with sqlite3.connect(tmp_path / "collections" / "bad" / "store.sqlite3") as db:
        if value is None:
            db.execute("DELETE FROM config WHERE key = ?", (key,))
        else:
            db.execute("UPDATE config SET value = ? WHERE key = ?", (value, key))
    db.close()
    catalog = Catalog(tmp_path)
    assert catalog.names() == ["good"]
    assert [h[0].id for h in catalog.get("good").search(VECTORS[:3], 1)] == IDS[:3]
    with pytest.raises(CollectionUnavailable, match="could not be opened"):
        catalog.get("bad")
    catalog.close()

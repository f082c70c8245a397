"""Points that are parts of another (a photo's faces) go with it: upsert and delete by the whole's
id, in stores made today and in stores made before the `source_id` column (migrated on open)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from index.store import PointStore, source_of

DIM = 4


def vec(n: int) -> np.ndarray:
    return np.ones((n, DIM), np.float32)


def part(source: str, i: int) -> tuple[str, dict[str, object]]:
    return f"{source}#{i}", {"source_id": source, "box": [i, 0, i + 1, 1]}


def ids(store: PointStore) -> list[str]:
    return sorted(store.label_ids().values())


def test_source_of_needs_the_part_id_shape() -> None:
    assert source_of("a#0", {"source_id": "a"}) == "a"
    assert source_of("a#b#12", {"source_id": "a#b"}) == "a#b"
    assert source_of("a#x", {"source_id": "a"}) is None  # not "#<n>"
    assert source_of("b#0", {"source_id": "a"}) is None  # a payload claim alone is not enough
    assert source_of("a#0", {"source_id": 7}) is None
    assert source_of("a", {}) is None


def test_upsert_and_delete_take_the_parts_along(tmp_path: Path) -> None:
    store = PointStore(tmp_path / "s.sqlite3", DIM)
    rows = [part("x", i) for i in range(3)] + [part("%", 0), part("_", 0)]
    # a whole point whose payload merely mentions x is not one of x's parts
    rows += [("decoy", {"source_id": "x"}), ("x#0z", {"source_id": "x"})]
    store.upsert([r[0] for r in rows], vec(len(rows)), [r[1] for r in rows])
    # a part written alone (a payload update) replaces itself, never its siblings
    removed, added = store.upsert(["x#1"], vec(1), [{**part("x", 1)[1], "name": "Alice"}])
    assert len(removed) == 1 and len(added) == 1
    assert ids(store) == ["%#0", "_#0", "decoy", "x#0", "x#0z", "x#1", "x#2"]
    # the photo split again: all its old parts go, however many it has now
    removed, added = store.upsert(["x#0"], vec(1), [part("x", 0)[1]], replace_parts_of=["x"])
    assert len(removed) == 3 and len(added) == 1
    assert ids(store) == ["%#0", "_#0", "decoy", "x#0", "x#0z"]
    # a whole point under the photo's id replaces its parts too
    store.upsert(["x"], vec(1), [{}])
    assert ids(store) == ["%#0", "_#0", "decoy", "x", "x#0z"]
    store.upsert(["x#0", "x#1"], vec(2), [part("x", 0)[1], part("x", 1)[1]], replace_parts_of=["x"])
    assert ids(store) == ["%#0", "_#0", "decoy", "x#0", "x#0z", "x#1"]
    # delete by the photo's id: its parts go, wildcard-looking ids are plain text
    assert len(store.delete(["x", "%"])) == 3
    assert ids(store) == ["_#0", "decoy", "x#0z"]


def test_a_store_from_before_source_ids_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE points (
            label INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            vector BLOB NOT NULL,
            payload TEXT NOT NULL
        );
        """
    )
    rows = [part("p", i) for i in range(3)] + [("decoy", {"source_id": "p"}), ("q#1", {})]
    db.executemany(
        "INSERT INTO points (id, vector, payload) VALUES (?, ?, ?)",
        [(pid, vec(1).tobytes(), json.dumps(payload)) for pid, payload in rows],
    )
    db.commit()
    db.close()
    store = PointStore(path, DIM)
    assert len(store.delete(["p"])) == 3
    assert ids(store) == ["decoy", "q#1"]
    store.close()
    assert ids(PointStore(path, DIM)) == ["decoy", "q#1"]  # reopening migrates nothing twice

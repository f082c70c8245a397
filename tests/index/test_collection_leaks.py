"""Callers use Collection's own methods, not its insides: analyses read through its read
methods (they never wait for a write, as searches do not), an ingest's category rebuild takes
the write lock (it cannot swap in an index that misses a write in flight), and optional backend
capabilities are declared on the protocol instead of probed. No mocks: a second SQLite
connection holding the store's write lock stands in for a slow commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from diagnostics.data import label_ids, payload_categories, read_vectors
from index import METRICS, Catalog, CollectionConfig, available_indexes, index_class
from index.collection import STORE_FILE, Collection
from ingest.ordering import OrderSpec, build_index

DIM, N = 8, 120
DONE_S = 4.0  # far more than these reads take; the old code waited for the commit (30 s)


def make(tmp_path: Path) -> Collection:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM))
    rng = np.random.default_rng(0)
    payloads = [{"group": ["b", "a", "c"][i % 3]} for i in range(N)]
    col.upsert([f"p{i}" for i in range(N)], rng.normal(size=(N, DIM)).astype(np.float32), payloads)
    return col


def run(target: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, list[Any]]:
    """Start `target(*args, **kwargs)` in a thread; the list gets its result or exception."""
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(target(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, out


class StoreWriteLock:
    """Hold SQLite's write lock, so a collection write waits in its commit (holding `_lock`)."""

    def __init__(self, col: Collection) -> None:
        self.db = sqlite3.connect(col.path / STORE_FILE, isolation_level=None)

    def __enter__(self) -> StoreWriteLock:
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *_: object) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def test_analysis_reads_do_not_wait_for_a_write(tmp_path: Path) -> None:
    col = make(tmp_path)
    labels = np.array(sorted(label_ids(col)), np.int64)

    def reads() -> Any:
        found, vectors = read_vectors(col)
        return (
            len(label_ids(col)),
            found.tolist(),
            vectors.shape,
            payload_categories(col, labels[:3], "group").tolist(),
        )

    before = reads()
    assert before == (N, labels.tolist(), (N, DIM), ['"b"', '"a"', '"c"'])
    new = np.ones((1, DIM), np.float32)
    with StoreWriteLock(col):
        writer, written = run(col.upsert, ["new"], new, [{"group": "z"}])
        time.sleep(0.3)
        assert writer.is_alive() and not written  # holding the writer mutex, waiting on SQLite
        reader, out = run(reads)
        reader.join(DONE_S)
        assert not reader.is_alive(), "an analysis read waited for a write in flight"
        assert out == [before]
    writer.join(30)
    assert written == [1] and len(label_ids(col)) == N + 1
    col.close()


def test_category_rebuild_takes_the_write_lock(tmp_path: Path) -> None:
    col = make(tmp_path)
    query = np.ones((1, DIM), np.float32)
    with StoreWriteLock(col):
        writer, written = run(col.upsert, ["new"], query, [{"group": "z"}])
        time.sleep(0.3)
        assert writer.is_alive() and not written
        rebuild, rebuilt = run(build_index, col, OrderSpec.parse("category:group"), 0)
        rebuild.join(0.5)
        # the old code rebuilt from the store as it was and swapped the index in unlocked
        assert rebuild.is_alive(), "the category rebuild did not wait for the write in flight"
        assert len(col.search(query, 5)[0]) == 5  # searches go on meanwhile
    writer.join(30)
    rebuild.join(30)
    assert written == [1] and rebuilt == [None]
    assert col.insertion_order == "category:group"
    assert sorted(col.index.labels().tolist()) == sorted(label_ids(col))
    assert col.search(query, 1)[0][0].id == "new"
    col.close()
    reopened = Collection.open(col.path)  # the rebuilt index was saved and describes its order
    assert reopened.insertion_order == "category:group" and len(reopened.index) == N + 1
    reopened.close()


def test_backends_declare_their_optional_capabilities() -> None:
    for name in available_indexes():
        backend = index_class(name)
        assert isinstance(backend.filters_natively, bool), name
        assert isinstance(backend.trains, bool), name
        assert callable(backend.train) and callable(backend.drop), name
    assert index_class("milvus").filters_natively and index_class("ivf").trains
    local = index_class("hnsw")
    index = local(DIM, METRICS["cosine"], local.Params())
    assert index.train() is None and index.drop() is None  # defaults: nothing to do

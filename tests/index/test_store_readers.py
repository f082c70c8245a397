"""A thread keeps the readers of the few stores it read last: file descriptors stay bounded by
threads, not threads x collections (520 collections read by 40 threads ran out of them)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from index.store import PointStore
from index.store_connections import READERS_PER_THREAD


def stores(tmp_path: Path, n: int) -> list[PointStore]:
    out = []
    for i in range(n):
        store = PointStore(tmp_path / f"s{i}.sqlite3", dim=2)
        store.upsert([f"p{i}"], np.ones((1, 2), np.float32), [{"i": i}])
        out.append(store)
    return out


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def held_readers(all_stores: list[PointStore]) -> int:
    return sum(len(s._readers._open) for s in all_stores)


def test_a_thread_holds_readers_of_its_last_stores_only(tmp_path: Path) -> None:
    all_stores = stores(tmp_path, 3 * READERS_PER_THREAD)
    before = open_fds()

    def read_all() -> None:
        for _ in range(2):
            for i, store in enumerate(all_stores):
                assert store.by_ids([f"p{i}"])[0].payload == {"i": i}  # reopened when evicted

    worker = threading.Thread(target=read_all)
    worker.start()
    worker.join()
    read_all()  # this thread too
    assert held_readers(all_stores) <= 2 * READERS_PER_THREAD
    # two descriptors a reader (the file and its -wal), for two threads; a closed reader's file
    # descriptor stays with SQLite (one a store, reused by its next reader) while the writer
    # holds its lock on the file
    assert open_fds() - before <= 2 * 2 * READERS_PER_THREAD + len(all_stores)
    for store in all_stores:
        store.close()


def test_a_reader_inside_a_read_transaction_is_not_closed(tmp_path: Path) -> None:
    first, *others = stores(tmp_path, READERS_PER_THREAD + 4)
    with first.one_read():
        assert first.count() == 1
        for store in others:  # more stores than a thread keeps, while `first` is mid-read
            assert store.count() == 1
        assert first.count() == 1
    for store in [first, *others]:
        store.close()


def test_a_reader_being_read_lazily_is_not_closed(tmp_path: Path) -> None:
    first, *others = stores(tmp_path, READERS_PER_THREAD + 4)
    first.upsert(["q", "r"], np.ones((2, 2), np.float32), [{}, {}])
    batches = first.iter_vectors(batch=1)
    assert len(next(batches)[0]) == 1
    for store in others:  # more stores than a thread keeps, while `first`'s rows are read
        assert store.count() == 1
    assert sum(len(labels) for labels, _ in batches) == 2
    for store in [first, *others]:
        store.close()


THREADS = 6


def test_a_threads_readers_close_when_it_ends(tmp_path: Path) -> None:
    """A pool's worker retired after a burst kept its readers (their connections, 2 descriptors
    each) until another thread opened one of the same store."""
    all_stores = stores(tmp_path, 4)

    def read_all() -> None:
        for i, store in enumerate(all_stores):
            assert store.count() == 1 and store.by_ids([f"p{i}"])

    def burst() -> None:
        workers = [threading.Thread(target=read_all) for _ in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    before = open_fds()
    for _ in range(3):
        burst()
        assert held_readers(all_stores) == 0
    # a closed reader's database descriptor stays with SQLite while the writer holds its lock
    # on the file, for the store's next reader to take up: at most one per reader at once
    assert open_fds() - before <= THREADS * len(all_stores)
    for i, store in enumerate(all_stores):  # and the stores read on, from this thread
        assert store.by_ids([f"p{i}"])[0].payload == {"i": i}
        store.close()

"""The collection's readers-writer lock: readers share, a writer excludes, writers re-enter,
and a waiting writer holds new readers back."""

from __future__ import annotations

import threading
import time

import pytest

from index.locks import ReadWriteLock

WAIT = 5.0  # seconds a thread that should get through may take on a loaded machine
BLOCKED = 0.3  # seconds a thread that should be held back is watched for


def start(target) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_readers_share() -> None:
    lock, inside, release = ReadWriteLock(), threading.Barrier(3, timeout=WAIT), threading.Event()

    def reader() -> None:
        with lock.read():
            inside.wait()  # breaks (BrokenBarrierError) unless all three hold it together
            release.wait(WAIT)

    threads = [start(reader) for _ in range(2)]
    inside.wait()
    release.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()


def test_writer_excludes_readers_and_writers() -> None:
    lock, done = ReadWriteLock(), []

    def reader() -> None:
        with lock.read():
            done.append("r")

    def writer() -> None:
        with lock.write():
            done.append("w")

    with lock.write():
        threads = [start(reader), start(writer)]
        time.sleep(BLOCKED)
        assert done == []
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert sorted(done) == ["r", "w"]


def test_reader_excludes_writer() -> None:
    lock, done = ReadWriteLock(), threading.Event()

    def writer() -> None:
        with lock.write():
            done.set()

    with lock.read():
        thread = start(writer)
        assert not done.wait(BLOCKED)
    thread.join(WAIT)
    assert done.is_set()


def test_writer_reenters_and_reads() -> None:
    lock, done = ReadWriteLock(), threading.Event()
    with lock.write(), lock.write(), lock.read(), lock.write():
        pass
    with lock.write():
        with lock.read():
            pass
        thread = start(lambda: (lock.read().__enter__(), done.set()))
        assert not done.wait(BLOCKED)  # still held after the nested blocks ended
    thread.join(WAIT)
    assert done.is_set()


def test_reader_cannot_upgrade() -> None:
    lock = ReadWriteLock()
    with lock.read(), pytest.raises(RuntimeError, match="upgrade"), lock.write():
        pass
    with lock.write():  # and the failed attempt left nothing behind
        pass


def test_waiting_writer_holds_new_readers_back() -> None:
    lock, order = ReadWriteLock(), []
    first_in, let_go = threading.Event(), threading.Event()

    def first_reader() -> None:
        with lock.read():
            first_in.set()
            let_go.wait(WAIT)
            # re-entering while the writer waits must not deadlock on ourselves
            with lock.read():
                order.append("first reader")

    def writer() -> None:
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("late reader")

    threads = [start(first_reader)]
    assert first_in.wait(WAIT)
    threads.append(start(writer))
    time.sleep(BLOCKED)  # the writer is queued behind the first reader
    threads.append(start(late_reader))
    time.sleep(BLOCKED)
    assert order == []  # the late reader waits for the queued writer
    let_go.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert order == ["first reader", "writer", "late reader"]

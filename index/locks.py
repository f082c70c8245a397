"""A writer-preferring readers-writer lock: searches share it, index mutations take it alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer. A waiting writer stops new readers, so a steady stream of
    searches cannot starve a write. The writer may re-enter `write()` and take `read()`; a
    reader may re-enter `read()` (even while a writer waits) but never upgrade to `write()`."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0  # threads holding the shared side
        self._writer: int | None = None  # ident of the thread holding the exclusive side
        self._write_depth = 0
        self._writers_waiting = 0
        self._local = threading.local()  # this thread's read depth and whether it is counted
        self._shared = _SharedSide(self)  # stateless: the depth lives in `_local`

    @property
    def contended(self) -> bool:
        """Whether a writer holds or waits for the lock (a new reader would wait); a snapshot."""
        return self._writer is not None or bool(self._writers_waiting)

    def read(self) -> _SharedSide:
        """Hold the shared side for the block (`with lock.read():`)."""
        return self._shared

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the exclusive side for the block."""
        self._acquire_write()
        try:
            yield
        finally:
            self._release_write()

    def _acquire_read(self) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth:  # nested: waiting here for a queued writer would deadlock on ourselves
            self._local.depth = depth + 1
            return
        if self._writer == threading.get_ident():  # only this thread sets it to its own id
            self._local.depth, self._local.counted = 1, False
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._local.depth, self._local.counted = 1, True

    def _release_read(self) -> None:
        self._local.depth -= 1
        if self._local.depth or not self._local.counted:
            return
        with self._cond:
            self._readers -= 1
            if not self._readers and self._writers_waiting:  # only a writer waits for none
                self._cond.notify_all()

    def _acquire_write(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._write_depth += 1
                return
            if getattr(self._local, "depth", 0):
                raise RuntimeError("a reader cannot upgrade to the write lock (it would deadlock)")
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            except BaseException:  # interrupted while queued: readers held back may go on
                self._writers_waiting -= 1
                self._cond.notify_all()
                raise
            self._writers_waiting -= 1
            self._writer, self._write_depth = me, 1

    def _release_write(self) -> None:
        with self._cond:
            self._write_depth -= 1
            if not self._write_depth:
                self._writer = None
                self._cond.notify_all()


class _SharedSide:
    """`ReadWriteLock.read()`'s context manager: a plain object, not a generator, because
    every search enters it and a generator costs as much as the rest of the bookkeeping."""

    __slots__ = ("_lock",)

    def __init__(self, lock: ReadWriteLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock._acquire_read()

    def __exit__(self, *exc: object) -> None:
        self._lock._release_read()

"""The store's SQLite connections: each thread's read-only one, and a write transaction."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable

from index import sql_functions

# A thread keeps the readers of the stores it read last; reading another closes its oldest.
# Each reader holds two file descriptors (the file and its -wal): kept for every store by
# every worker thread, 520 collections read by 40 threads ran past a 20,000-descriptor limit.
READERS_PER_THREAD = 8
_tokens = itertools.count()


class Reader:
    """A thread's read-only connection (its Readers close it: with the store, after the thread,
    or when the thread has read READERS_PER_THREAD other stores since)."""

    __slots__ = ("cursors", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.cursors = 0  # lazy reads under way (iter_vectors...): never closed under them

    def busy(self) -> bool:
        try:  # autocommit: a read transaction means one_read(); a SELECT being read, cursors
            return self.cursors > 0 or self.db.in_transaction
        except sqlite3.ProgrammingError:  # closed already, with its store
            return False


class _Recent(threading.local):
    """The Readers this thread read through, least recently first, and the readers it opened:
    closed when the thread ends (its local state goes, and the sentinel's finaliser runs). A
    worker thread retired by the pool held them until another thread read the same store,
    about 2 descriptors a store for each thread that ever read it."""

    def __init__(self) -> None:
        self.readers: OrderedDict[int, weakref.ref[Readers]] = OrderedDict()
        self.opened: dict[Reader, weakref.ref[Readers]] = {}
        self.sentinel = _Sentinel()
        weakref.finalize(self.sentinel, _close_opened, self.opened)


class _Sentinel:
    """Lives exactly as long as its thread's local state."""


def _close_opened(opened: dict[Reader, weakref.ref[Readers]]) -> None:
    for reader, ref in list(opened.items()):
        readers = ref()
        if readers is not None:
            readers.forget(reader)
        reader.db.close()  # check_same_thread=False: its thread is gone, nothing else uses it
    opened.clear()


_recent = _Recent()


class Readers:
    """One store's read-only connections, one per thread (WAL lets each read the last commit
    while a write is under way)."""

    def __init__(self, uri: str, busy_timeout_s: float) -> None:
        self._uri, self._timeout = uri, busy_timeout_s
        self._token = next(_tokens)
        self._local = threading.local()
        # every open reader, so that the store can close them all
        self._open: set[Reader] = set()
        self._lock = threading.Lock()
        self.closed = False

    def connection(self, check_open: Callable[[], None]) -> sqlite3.Connection:
        """This thread's connection (autocommit: each statement reads the last commit)."""
        return self.reader(check_open).db

    def reader(self, check_open: Callable[[], None]) -> Reader:
        """This thread's Reader, opened if need be, as the store it read last."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._open_reader(check_open)
        recent = _recent.readers
        if recent and next(reversed(recent)) == self._token:
            return reader
        recent[self._token] = weakref.ref(self)
        recent.move_to_end(self._token)
        while len(recent) > READERS_PER_THREAD and _close_oldest(recent):
            pass
        return reader

    def _open_reader(self, check_open: Callable[[], None]) -> Reader:
        with self._lock:
            check_open()
            db = sqlite3.connect(  # autocommit
                self._uri, uri=True, check_same_thread=False, isolation_level=None,
                timeout=self._timeout,
            )  # fmt: skip
            # no mmap: 11 us faster per 10-row payload join, but every scan left the whole
            # file resident in each reader thread's mapping (5x raw RSS at 1M points)
            sql_functions.register(db)
            reader = Reader(db)
            self._open.add(reader)  # a thread's end closes it (_Recent's finaliser)
        self._local.reader = reader
        _recent.opened[reader] = weakref.ref(self)
        return reader

    def forget(self, reader: Reader) -> None:
        """Stop tracking a reader its thread's end closes."""
        with self._lock:
            self._open.discard(reader)

    def close_this_threads(self) -> bool:
        """Close this thread's reader unless it is inside a read transaction; True if closed."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            return True
        if reader.busy():
            return False
        self._local.reader = None
        self.forget(reader)
        _recent.opened.pop(reader, None)
        reader.db.close()
        return True

    def close_all(self) -> None:
        with self._lock:
            self.closed = True
            readers = list(self._open)
            self._open.clear()
        for reader in readers:
            reader.db.close()


def _close_oldest(recent: OrderedDict[int, weakref.ref[Readers]]) -> bool:
    """Close this thread's reader of the store it read least recently (one not mid-read);
    False where every one is mid-read."""
    for token, ref in list(recent.items())[:-1]:
        readers = ref()
        if readers is None or readers.close_this_threads():
            del recent[token]
            return True
    return False


class Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error so a failed write leaves nothing."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")

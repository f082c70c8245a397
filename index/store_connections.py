"""The store's SQLite connections: a thread's read-only one, and a write transaction."""

from __future__ import annotations

import sqlite3


class Reader:
    """A thread's read-only connection (the store closes it: with itself, or after the thread)."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db


class Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error so a failed write leaves nothing."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")

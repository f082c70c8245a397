"""The Python functions that compiled filters call in SQL, registered on every store connection
(SQLite looks them up on the connection that runs the statement)."""

from __future__ import annotations

import sqlite3

from index import instants, text_words


def register(db: sqlite3.Connection) -> None:
    text_words.register(db)  # match.text
    instants.register(db)  # date-time range bounds

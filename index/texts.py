"""Source texts of a collection's text points, kept so that `nestvec reindex` can re-encode them.

The point store holds vectors and payloads only, and a changed encoder needs the inputs again.
A small SQLite file beside the store keeps the latest text of each id. Points written from a
vector or a raw input (an image, a node id) have no row; reindex lists them instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

TEXTS_FILE = "texts.sqlite3"
SCHEMA = "CREATE TABLE IF NOT EXISTS texts (id TEXT PRIMARY KEY, text TEXT NOT NULL)"
T = TypeVar("T")
log = logging.getLogger(__name__)
_SETTING_ASIDE = threading.Lock()


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _set_aside(collection_dir: Path, exc: sqlite3.DatabaseError) -> None:
    """A damaged texts file is moved aside, not left to fail every write of the collection: the
    points are in the store; only reindex loses the texts it held (and lists those points)."""
    path = Path(collection_dir) / TEXTS_FILE
    aside = path.with_name(f"{TEXTS_FILE}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").rename(f"{aside}{suffix}")
    log.error(
        "%s is damaged (%s): moved to %s; reindex lists its points as textless", path, exc, aside
    )


def _with_texts(collection_dir: Path, use: Callable[[sqlite3.Connection], T]) -> T:
    """`use` on a connection to the texts file; a damaged file is set aside and `use` runs
    again on a new one."""
    try:
        return _once(collection_dir, use)
    except sqlite3.DatabaseError as exc:
        if not _damaged(exc):
            raise
    with _SETTING_ASIDE:  # concurrent writers found it damaged too: one sets it aside
        try:
            return _once(collection_dir, use)
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            _set_aside(collection_dir, exc)
    return _once(collection_dir, use)


def _once(collection_dir: Path, use: Callable[[sqlite3.Connection], T]) -> T:
    # One short connection per call: a dropped and re-created collection never sees a stale one.
    db = sqlite3.connect(Path(collection_dir) / TEXTS_FILE, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)
        return use(db)
    finally:
        db.close()


def record_texts(collection_dir: Path, texts: Mapping[str, str | None]) -> None:
    """Remember each id's text; None forgets it (the point now comes from a vector or input)."""
    if not texts:
        return
    keep = [(pid, text) for pid, text in texts.items() if text is not None]
    drop = json.dumps([pid for pid, text in texts.items() if text is None])

    def write(db: sqlite3.Connection) -> None:
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?)", keep)
            db.execute("DELETE FROM texts WHERE id IN (SELECT value FROM json_each(?))", (drop,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    _with_texts(collection_dir, write)


def read_texts(collection_dir: Path, ids: Sequence[str]) -> dict[str, str]:
    """The recorded texts of `ids` (ids without one are absent)."""
    if not (Path(collection_dir) / TEXTS_FILE).exists():
        return {}
    query = "SELECT id, text FROM texts WHERE id IN (SELECT value FROM json_each(?))"
    found = _with_texts(
        collection_dir, lambda db: db.execute(query, (json.dumps(list(ids)),)).fetchall()
    )
    return dict(found)


@contextlib.contextmanager
def recording_texts(collection_dir: Path, texts: Mapping[str, str | None]) -> Iterator[None]:
    """Record `texts` before the write of their points (the block); if that write fails, put
    back what was recorded before. Texts written after the points' commit could fail on their
    own and leave a 503 saying "nothing was changed" over points that were stored."""
    before = read_texts(collection_dir, list(texts)) if texts else {}
    record_texts(collection_dir, texts)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the write's own error is the one to answer
            record_texts(collection_dir, {pid: before.get(pid) for pid in texts})
        raise

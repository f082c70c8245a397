"""Source texts of a collection's text points, kept so that `nestvec reindex` can re-encode them.

The point store holds vectors and payloads only, and a changed encoder needs the inputs again.
A small SQLite file beside the store keeps the latest text of each id. Points written from a
vector or a raw input (an image, a node id) have no row; reindex lists them instead.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

TEXTS_FILE = "texts.sqlite3"
SCHEMA = "CREATE TABLE IF NOT EXISTS texts (id TEXT PRIMARY KEY, text TEXT NOT NULL)"


def _connect(collection_dir: Path) -> sqlite3.Connection:
    # One short connection per call: a dropped and re-created collection never sees a stale one.
    db = sqlite3.connect(Path(collection_dir) / TEXTS_FILE, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(SCHEMA)
    return db


def record_texts(collection_dir: Path, texts: Mapping[str, str | None]) -> None:
    """Remember each id's text; None forgets it (the point now comes from a vector or input)."""
    if not texts:
        return
    keep = [(pid, text) for pid, text in texts.items() if text is not None]
    drop = json.dumps([pid for pid, text in texts.items() if text is None])
    db = _connect(collection_dir)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?)", keep)
        db.execute("DELETE FROM texts WHERE id IN (SELECT value FROM json_each(?))", (drop,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def read_texts(collection_dir: Path, ids: Sequence[str]) -> dict[str, str]:
    """The recorded texts of `ids` (ids without one are absent)."""
    if not (Path(collection_dir) / TEXTS_FILE).exists():
        return {}
    db = _connect(collection_dir)
    try:
        cur = db.execute(
            "SELECT id, text FROM texts WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return dict(cur.fetchall())
    finally:
        db.close()


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

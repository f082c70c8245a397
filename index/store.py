"""SQLite store of one collection: config, ids, labels, payloads and full-precision vectors.

It is the source of truth; index files are snapshots reconciled against it. Labels come from
AUTOINCREMENT and are never reused, so a label always names one immutable vector: an upsert of an
existing id deletes the old row and inserts a new one.

A point may be a part of another (a face of a photo: `photo#0`, `photo#1`...): its `source_id`
column names the whole. Upserting or deleting an id also removes every part whose source it is.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from index import sql_functions
from index.errors import CollectionDeleted
from index.store_connections import Readers, Transaction
from index.store_schema import (
    MIGRATE_SOURCE_ID,
    SCHEMA,
    SOURCE_INDEX,
    payloads_checked,
    repair_payloads,
    source_of,
    store_identity,
)
from index.stored_point import StoredPoint, check_point_id, decode_payload, payload_json

# One writer per store: a second one (an ingest) is waited for, not failed at once (5 s).
BUSY_TIMEOUT_S = 30.0
# Up to this many labels are bound one placeholder each (`label IN (?, ?, ...)`): a search's
# k hits read a third faster than through json_each; longer lists go as one JSON parameter.
PLACEHOLDER_LABELS = 64


class PointStore:
    """One SQLite file in WAL mode. Writes go through one connection and callers serialise them
    (the Collection's writer lock); reads use a read-only connection per thread, which WAL lets
    read the last commit while a write is under way."""

    def __init__(self, path: Path, dim: int) -> None:
        self.dim = dim
        self._path = Path(path)
        self._db = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        sql_functions.register(self._db)  # for filters (a delete by filter runs here)
        uri = Path(path).absolute().as_uri() + "?mode=ro"  # as_uri quotes '?', '#', '%'
        self._readers = Readers(uri, BUSY_TIMEOUT_S)
        with self.closed_on_error():
            self._prepare()
            self.store_id = store_identity(self._db)

    @contextmanager
    def closed_on_error(self) -> Iterator[None]:
        """Close the store if the block fails: a damaged file is left as it was found, with no
        connection (nor -wal/-shm file) left open beside it."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def _prepare(self) -> None:
        """WAL, full fsync, the schema and its migration."""
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a write acknowledged to the client survives a power cut, not only a crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        if not payloads_checked(self._db):  # before the migration below, refused by NaN
            with self._transaction():
                repair_payloads(self._db, str(self._path))
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(points)")}
        if "source_id" not in columns:
            with self._transaction():
                for statement in MIGRATE_SOURCE_ID.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        self._db.execute(SOURCE_INDEX)

    def close(self) -> None:
        self._readers.close_all()  # first: the writer, closing last, checkpoints the WAL
        self._db.close()

    def check_open(self) -> None:  # CollectionDeleted: dropped after the request found it
        if self._readers.closed:
            raise CollectionDeleted()

    def _read(self) -> sqlite3.Connection:
        """This thread's read-only connection (autocommit: each statement reads the last commit)."""
        self.check_open()
        return self._readers.connection(self.check_open)

    @contextmanager
    def one_read(self) -> Iterator[None]:
        """This thread's reads in the block all see one commit (a read transaction)."""
        db = self._read()
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    # config -----------------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO config VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in config.items()],
            )

    def read_config(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._read().execute("SELECT key, value FROM config")}

    # writes -----------------------------------------------------------------------------------
    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]],
        meta: dict[str, Any] | None = None,
        replace_parts_of: Sequence[str] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Replace-or-insert unique ids in one transaction; returns (removed, new labels).

        The points of the ids and their parts are replaced, and every old part of the wholes in
        `replace_parts_of` (photos split again); a part written alone replaces only itself.
        `meta` rows go into the config table in the same transaction (an offline build's
        position in its source commits with its points).
        """
        for pid in ids:
            check_point_id(pid, new=True)
        sources = [source_of(pid, payload) for pid, payload in zip(ids, payloads, strict=True)]
        id_list = json.dumps(list(ids))
        replaced = json.dumps(sorted(set(ids) | set(replace_parts_of)))
        rows = [
            (pid, np.asarray(vec, np.float32).tobytes(), payload_json(pid, payload), source)
            for pid, vec, payload, source in zip(ids, vectors, payloads, sources, strict=True)
        ]
        with self._transaction():
            removed = self._remove_with_parts(replaced)
            self._db.executemany(
                "INSERT INTO points (id, vector, payload, source_id) VALUES (?, ?, ?, ?)", rows
            )
            # AUTOINCREMENT labels ascend in insertion order, so this lines up with `ids`.
            added = self._labels_where_ids(id_list, order_by_label=True)
            if meta:
                self._db.executemany(
                    "INSERT OR REPLACE INTO config VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in meta.items()],
                )
        return removed, added

    def delete(self, ids: Sequence[str]) -> np.ndarray:
        """Delete by external id, each point with its parts; returns the labels removed. An id no
        point can have (NUL, a lone surrogate) is refused before anything goes."""
        for pid in ids:
            check_point_id(pid, "ids")
        with self._transaction():
            return self._remove_with_parts(json.dumps(list(ids)))

    def _remove_with_parts(self, id_list: str) -> np.ndarray:
        """Delete the points of a JSON list of ids and their parts (inside a transaction)."""
        where = (
            "WHERE id IN (SELECT value FROM json_each(?1))"
            " OR source_id IN (SELECT value FROM json_each(?1))"
        )
        cur = self._db.execute(f"SELECT label FROM points {where}", (id_list,))
        removed = np.array([r[0] for r in cur], dtype=np.int64)
        self._db.execute(f"DELETE FROM points {where}", (id_list,))
        return removed

    def delete_labels(self, labels: Sequence[int]) -> int:
        """Delete by label (e.g. the labels a filter matched); returns how many were stored."""
        with self._transaction():
            cur = self._db.execute(
                "DELETE FROM points WHERE label IN (SELECT value FROM json_each(?))",
                (json.dumps([int(x) for x in labels]),),
            )
        return int(cur.rowcount)

    def _labels_where_ids(self, id_list: str, order_by_label: bool = False) -> np.ndarray:
        order = " ORDER BY label" if order_by_label else ""
        cur = self._db.execute(
            "SELECT label FROM points WHERE id IN (SELECT value FROM json_each(?))" + order,
            (id_list,),
        )
        return np.array([r[0] for r in cur], dtype=np.int64)

    # reads ------------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._read().execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def max_label(self) -> int:
        """The highest label ever assigned (0 if none); later writes get larger labels."""
        row = (
            self._read().execute("SELECT seq FROM sqlite_sequence WHERE name = 'points'").fetchone()
        )
        return int(row[0]) if row else 0

    def label_ids(self) -> dict[int, str]:
        """Every stored label with its external id."""
        return dict(self._read().execute("SELECT label, id FROM points"))

    def by_ids(self, ids: Sequence[str], with_vector: bool = False) -> list[StoredPoint]:
        """Points for external ids, in the order asked; unknown ids are skipped."""
        cur = self._read().execute(
            "SELECT label, id, payload, vector FROM points "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        found = {row[1]: self._point(row, with_vector) for row in cur}
        return [found[i] for i in ids if i in found]

    def by_labels(self, labels: Sequence[int], with_vector: bool = False) -> list[StoredPoint]:
        """Points for labels, in the order asked; labels no longer stored are skipped."""
        vector = "vector" if with_vector else "NULL"  # a vector is read only when asked for
        wanted = [int(x) for x in labels]
        if len(wanted) <= PLACEHOLDER_LABELS:
            where, params = ", ".join("?" * len(wanted)), wanted
        else:
            where, params = "SELECT value FROM json_each(?)", [json.dumps(wanted)]
        cur = self._read().execute(
            f"SELECT label, id, payload, {vector} FROM points WHERE label IN ({where})", params
        )
        found = {row[0]: self._point(row, with_vector) for row in cur}
        return [found[x] for x in wanted if x in found]

    def page(self, after: str | None, limit: int, with_vector: bool) -> list[StoredPoint]:
        """Points ordered by id, starting after the cursor `after` (scroll pagination); no cursor
        starts at the first id, which may be the empty id."""
        columns = "SELECT label, id, payload, vector FROM points"
        if after is None:
            sql, params = f"{columns} ORDER BY id LIMIT ?", (limit,)
        else:
            sql, params = f"{columns} WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        return [self._point(row, with_vector) for row in self._read().execute(sql, params)]

    def labels_matching(self, where_sql: str, params: Sequence[Any]) -> np.ndarray:
        """Labels of points whose payload satisfies a compiled filter."""
        cur = self._read().execute(f"SELECT label FROM points WHERE {where_sql}", params)
        return np.array([r[0] for r in cur], dtype=np.int64)

    def iter_vectors(
        self, labels: Sequence[int] | None = None, batch: int = 10_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(labels, vectors) in batches; all points, or only the given labels."""
        if labels is None:
            sql, params = "SELECT label, vector FROM points ORDER BY label", ()
        else:
            sql = "SELECT label, vector FROM points WHERE label IN (SELECT value FROM json_each(?))"
            params = (json.dumps([int(x) for x in labels]),)
        for rows in self._batches(sql, params, batch):
            yield (
                np.array([r[0] for r in rows], dtype=np.int64),
                np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, self.dim),
            )

    def iter_payloads(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, list[Any]]]:
        """(labels, decoded payloads) of every point in label order, in batches."""
        sql = "SELECT label, payload FROM points ORDER BY label"
        for rows in self._batches(sql, (), batch):
            yield np.array([r[0] for r in rows], np.int64), [decode_payload(r[1]) for r in rows]

    def _batches(self, sql: str, params: Sequence[Any], batch: int) -> Iterator[list[Any]]:
        """The rows of one SELECT, `batch` at a time; the connection is kept open meanwhile."""
        self.check_open()
        reader = self._readers.reader(self.check_open)
        reader.cursors += 1
        try:
            cur = reader.db.execute(sql, params)
            while rows := cur.fetchmany(batch):
                yield rows
        finally:
            reader.cursors -= 1

    def _point(self, row: tuple[Any, ...], with_vector: bool) -> StoredPoint:
        vector = np.frombuffer(row[3], np.float32) if with_vector else None
        return StoredPoint(label=row[0], id=row[1], payload_json=row[2], vector=vector)

    def _transaction(self) -> Transaction:
        self.check_open()
        return Transaction(self._db)

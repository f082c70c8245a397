"""The SQLite schema of a collection's store, its migration, its identity, and how a part names
its whole."""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    label INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    vector BLOB NOT NULL,
    payload TEXT NOT NULL,
    source_id TEXT
);
"""
# Stores made before `source_id` get the column on open; their parts are found by the payload's
# `source_id` where the id is that source plus "#<n>" (the shape service.parts gives part ids).
MIGRATE_SOURCE_ID = """
ALTER TABLE points ADD COLUMN source_id TEXT;
UPDATE points SET source_id = json_extract(payload, '$.source_id')
WHERE json_type(payload, '$.source_id') = 'text'
  AND substr(id, 1, length(json_extract(payload, '$.source_id')) + 1)
      = json_extract(payload, '$.source_id') || '#'
  AND substr(id, length(json_extract(payload, '$.source_id')) + 2) GLOB '[0-9]*'
  AND NOT substr(id, length(json_extract(payload, '$.source_id')) + 2) GLOB '*[^0-9]*';
"""
SOURCE_INDEX = "CREATE INDEX IF NOT EXISTS points_source_id ON points (source_id)"
# the config-table key of the store's random identity, which index snapshots record
STORE_ID_KEY = "store_id"
# set once a store's payloads are known to be JSON (stores before it could hold NaN or Infinity,
# which SQLite's JSON functions refuse, and lone surrogates, which no answer can encode)
PAYLOADS_CHECKED_KEY = "payloads_checked"
# rows that may hold either: not JSON to SQLite, or a \ud800-\udfff escape (emoji's pairs too)
SUSPECT_PAYLOADS = (
    "SELECT label, payload FROM points WHERE NOT json_valid(payload) OR instr(payload, ?)"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def payloads_checked(db: sqlite3.Connection) -> bool:
    select = "SELECT 1 FROM config WHERE key = ?"
    return db.execute(select, (PAYLOADS_CHECKED_KEY,)).fetchone() is not None


def repair_payloads(db: sqlite3.Connection, where: str) -> None:
    """Once per store, in a write transaction: NaN and Infinity in payloads become null, lone
    surrogates U+FFFD, as nestvec refuses them since (one such payload made a whole upgraded
    collection unavailable, or its answers not JSON)."""
    repaired, unreadable = 0, []
    for label, text in db.execute(SUSPECT_PAYLOADS, ("\\ud",)).fetchall():
        try:
            parsed = json.loads(text)
            fixed = json.dumps(_json_only(parsed))
        except (ValueError, RecursionError):  # not JSON even to Python: damaged or hand-edited
            unreadable.append((label, text))
            continue
        if fixed != json.dumps(parsed):
            db.execute("UPDATE points SET payload = ? WHERE label = ?", (fixed, label))
            repaired += 1
    if repaired:
        log.warning(
            "%s: %d payloads held NaN, Infinity or a lone surrogate (no longer accepted); "
            "stored with null and U+FFFD in their place",
            where,
            repaired,
        )
    if unreadable:  # spliced into answers as they were, they made them no JSON at all
        aside = Path(where).with_name(f"payloads-unreadable-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")
        with aside.open("w") as out:
            out.writelines(json.dumps({"label": n, "payload": t}) + "\n" for n, t in unreadable)
        db.executemany(
            "UPDATE points SET payload = '{}' WHERE label = ?", [(n,) for n, _ in unreadable]
        )
        log.error(
            "%s: %d payloads were not JSON (damaged, or edited by hand); stored as {}, "
            "their text kept in %s",
            where,
            len(unreadable),
            aside,
        )
    db.execute("INSERT INTO config VALUES (?, ?)", (PAYLOADS_CHECKED_KEY, "true"))


def _json_only(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_json_only(v) for v in value]
    if isinstance(value, dict):
        return {_json_only(k): _json_only(v) for k, v in value.items()}
    return value


def store_identity(db: sqlite3.Connection) -> str:
    """The store's random identity, written once (a store made before identities gets one on
    its first open). A snapshot records it, so one built from another store is never loaded."""
    select, key = "SELECT value FROM config WHERE key = ?", (STORE_ID_KEY,)
    if (row := db.execute(select, key).fetchone()) is None:
        db.execute("BEGIN IMMEDIATE")
        try:  # OR IGNORE: an identity already there is never replaced
            db.execute(
                "INSERT OR IGNORE INTO config VALUES (?, ?)",
                (STORE_ID_KEY, json.dumps(uuid.uuid4().hex)),
            )
            row = db.execute(select, key).fetchone()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return str(json.loads(row[0]))


def source_of(point_id: str, payload: dict[str, Any]) -> str | None:
    """The point this one is a part of: the payload's `source_id` when the id is that source
    plus "#<n>" (service.parts); None for a whole point, whatever its payload says."""
    source = payload.get("source_id")
    if not isinstance(source, str) or not point_id.startswith(source + "#"):
        return None
    suffix = point_id[len(source) + 1 :]
    return source if suffix.isascii() and suffix.isdigit() else None

"""The SQLite schema of a collection's store, its migration, and how a part names its whole."""

from __future__ import annotations

from typing import Any

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


def source_of(point_id: str, payload: dict[str, Any]) -> str | None:
    """The point this one is a part of: the payload's `source_id` when the id is that source
    plus "#<n>" (service.parts); None for a whole point, whatever its payload says."""
    source = payload.get("source_id")
    if not isinstance(source, str) or not point_id.startswith(source + "#"):
        return None
    suffix = point_id[len(source) + 1 :]
    return source if suffix.isascii() and suffix.isdigit() else None

"""Date-times of `range` conditions, as Qdrant's DatetimeRange reads them: RFC 3339 and the
shorter forms its docs list (`2023-02-08`, `2023-02-08 10:49`, `...T10:49:00.5+01:00`, `Z`); one
without an offset is UTC. SQLite calls `instant` on payload strings; other values are no time.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from functools import lru_cache

FUNCTION = "nestvec_instant"


@lru_cache(maxsize=4096)
def instant(value: object) -> float | None:
    """Seconds since the epoch of a date-time string; None for anything else."""
    if not isinstance(value, str) or len(value) < 10 or value[4] != "-" or value[7] != "-":
        return None  # not even YYYY-MM-DD (fromisoformat would take 20230208 too)
    try:
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):  # year 1 a zone east of UTC is before datetime.min
        return None


def register(db: sqlite3.Connection) -> None:
    """Make `instant` callable in SQL on this connection."""
    db.create_function(FUNCTION, 1, instant, deterministic=True)

"""Date-times of `range` conditions, read as Qdrant's engine reads them: the forms its parser
takes (`2023-02-08`, `2023-02-08 10:49`, `2023-02-08T10:49:00`, a fraction of up to nanoseconds
(microseconds kept), an offset `Z`, `+01:00`, `+0100` or `+01` after the seconds, with or without
a space before it, ` UTC`; `T`, `t` or a space between date and time; lower-case `z`); one without
an offset is UTC. Other ISO 8601 spellings (`2023-02-08T10`, `10:49Z` without seconds,
`10:49:00,5`) are no date-time there, so none here. SQLite calls `instant` on payload strings.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

FUNCTION = "nestvec_instant"
_FORM = re.compile(
    r"(\d{4})-(\d\d?)-(\d\d?)"
    r"(?:[Tt ](\d\d?):(\d\d?)"
    r"(?::(\d\d?)(?:\.(\d+))?(?: ?([Zz]|[+-]\d\d(?::?[0-5]\d)?))?)?)?"
)


@lru_cache(maxsize=4096)
def instant(value: object) -> float | None:
    """Seconds since the epoch of a date-time string; None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.lstrip()
    if text.endswith(" UTC"):  # how Qdrant writes one back
        text = text[:-4] + "Z"
    form = _FORM.fullmatch(text)
    if form is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = form.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "")[:6].ljust(6, "0")),
            tzinfo=_zone(zone),
        )
        return moment.timestamp()
    except (ValueError, OverflowError):  # no such day; year 1 east of UTC is before datetime.min
        return None


def _zone(zone: str | None) -> timezone:
    if zone is None or zone in "Zz":
        return UTC
    hours, minutes = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if zone[0] == "-" else offset)  # past 24 h: ValueError, no instant


def register(db: sqlite3.Connection) -> None:
    """Make `instant` callable in SQL on this connection."""
    db.create_function(FUNCTION, 1, instant, deterministic=True)

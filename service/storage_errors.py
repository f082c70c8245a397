"""What the data directory's disk or file system refused, told apart from other OS and SQLite
errors (`service.errors.storage_error` answers these 503, anything else is unexpected)."""

from __future__ import annotations

import errno
import sqlite3

from nestvec import descriptors

# what the data directory's disk or file system refused (full, read-only, no permission)
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
STORAGE_ERRNOS |= descriptors.EXHAUSTED
SQLITE_STORAGE = ("disk is full", "readonly", "disk i/o error", "unable to open database")


def storage_problem(exc: Exception) -> str | None:
    """The file system's reason when `exc` is the data directory refusing a write, else None."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return exc.strerror
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return text if any(s in text.lower() for s in SQLITE_STORAGE) else None
    return None


def damaged_store(exc: Exception) -> bool:
    text = str(exc).lower()
    damaged = "malformed" in text or "not a database" in text
    return isinstance(exc, sqlite3.DatabaseError) and damaged

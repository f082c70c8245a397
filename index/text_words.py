"""`match.text` as Qdrant's engine reads it: every word of the query is a word of the value.

Words are runs of letters and digits, then lower-cased (Qdrant's default word tokenizer, used with
or without a full-text index): `"oil"` holds for `"Oil prices"` and `"oil-prices"`, not `"boil"`;
a query with no word (`""`, `" "`, an emoji) holds for nothing. SQLite calls `has_words` per value.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

FUNCTION = "nestvec_has_words"
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The distinct words of `text`, lower-cased, in order."""
    return list(dict.fromkeys(_lowered(text)))


@lru_cache(maxsize=256)
def _wanted(query: str) -> frozenset[str]:
    return frozenset(query.split(" "))


def has_words(value: object, query: str) -> int:
    """1 if `value` is a string holding every word of `query` (words joined by spaces)."""
    if not isinstance(value, str):
        return 0
    return int(_wanted(query) <= set(_lowered(value)))


def _lowered(text: str) -> list[str]:
    # split first, as Qdrant's tokenizer does: "İ".lower() adds a combining mark, no word char
    return [word.lower() for word in _WORD.findall(text)]


def register(db: sqlite3.Connection) -> None:
    """Make `has_words` callable in SQL on this connection."""
    db.create_function(FUNCTION, 2, has_words, deterministic=True)

"""The one check every package makes of user text before storing or tokenising it."""

from __future__ import annotations


def is_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate (JSON's "\\ud800"): neither SQLite nor a
    tokenizer takes one. ASCII, nearly every string, skips the encode."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

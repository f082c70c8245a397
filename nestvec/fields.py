"""How every error names its field: `points[3].vector`, as the API contract spells it."""

from __future__ import annotations

from collections.abc import Iterable


def field_path(loc: Iterable[object]) -> str:
    """A pydantic error location as one path: list positions in brackets, keys after dots
    (`("points", 3, "vector")` -> `points[3].vector`); "" for the top level."""
    path = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path

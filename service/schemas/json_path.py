"""Qdrant's JSON paths into payloads: `a.b` (b inside a), `"x.y"` (one key holding a dot, quoted
as a JSON string), `l[]` (each element of the array l) and `l[2]` (its third element)."""

from __future__ import annotations

import json
import re
from typing import Any

EACH = ("[]",)  # an array step: each element (a key is a str, an index an int)
_STEP = re.compile(r'\.(?:"((?:[^"\\]|\\.)*)"|([^."\[\]]+))|\[\]|\[(\d+)\]')
_FIRST = re.compile(r'"((?:[^"\\]|\\.)*)"|([^."\[\]]+)')


def parse_path(path: str) -> list[Any]:
    """`a.b[].c` -> ["a", "b", EACH, "c"]; `"x.y"` is one key, `[2]` an index. ValueError when
    `path` is no JSON path."""
    first = _FIRST.match(path) if isinstance(path, str) else None
    if first is None:
        raise ValueError(f"{path!r} is not a JSON path")
    steps, at = [first.group(2) or _unquoted(first.group(1), path)], first.end()
    while at < len(path):
        step = _STEP.match(path, at)
        if step is None:
            raise ValueError(f"{path!r} is not a JSON path")
        quoted, key, index = step.groups()
        if step.group(0) == "[]":
            steps.append(EACH)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(key if key is not None else _unquoted(quoted, path))
        at = step.end()
    return steps


def object_keys(path: str) -> list[str]:
    """The object keys a path walks (`a."x.y".b` -> ["a", "x.y", "b"]); ValueError when it steps
    into an array or names an empty key (it would write a key named "")."""
    steps = parse_path(path)
    if any(type(step) is not str or not step for step in steps):
        raise ValueError(
            f"{path!r}: give a path of object keys (array steps like [0] or [] are not supported)"
        )
    return steps


def _unquoted(quoted: str, path: str) -> str:
    try:
        return str(json.loads(f'"{quoted}"'))
    except ValueError:  # an escape JSON has not
        raise ValueError(f"{path!r} is not a JSON path") from None

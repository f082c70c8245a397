"""How deep a parsed JSON value nests, counted without recursion (so any depth is safe)."""

from __future__ import annotations

from typing import Any


def json_depth(value: Any) -> int:
    """Levels of lists and objects in `value`: 0 for a scalar, 1 for a flat list or object."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest

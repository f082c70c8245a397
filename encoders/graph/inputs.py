"""What the graph encoder accepts, checked item by item with the offending field named.

- a known node id (int or str): its embedding over the trained graph;
- `{"features": [...], "edges": [known ids]}`: a new node, embedded inductively;
- `{"text": "...", "edges": [...]}`: the same, for models whose features are node text;
- `{"id": known, "edges": [...]}`: a known node's features with other edges (offline builds over
  a newer edge list); without `edges`, the known node itself (its trained edges), as a bare id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders.errors import InvalidInput

KEYS = frozenset({"id", "features", "text", "edges"})


@dataclass
class NodeRefs:
    """Parsed inputs: known rows, and the new nodes' own features and first hops."""

    known: list[tuple[int, int]]  # (input position, row)
    adhoc: list[tuple[int, int | None, list[float] | str | None, list[int]]]
    # (position, known row whose features to use or None, features or text, edge rows)


def _node_row(value: Any, row_of: dict[str, int], field: str) -> int:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2**63:
        # JSON integers past 64 bits arrive as floats: the id sent was an integer, unknown
        raise InvalidInput(f"unknown node id {int(value)}: not in the trained graph", field)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"a node id is an int or a string, not {type(value).__name__}", field)
    row = row_of.get(str(value))
    if row is None:
        raise InvalidInput(f"unknown node id {value!r}: not in the trained graph", field)
    return row


def _features(value: Any, width: int, field: str) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value
    ):
        raise InvalidInput("features must be a list of finite numbers", field)
    if len(value) != width:
        raise InvalidInput(
            f"features has {len(value)} values, the graph's nodes have {width}", field
        )
    return value


def _edges(value: Any, row_of: dict[str, int], field: str) -> list[int]:
    if not isinstance(value, list):
        raise InvalidInput("edges must be a list of known node ids", field)
    return [_node_row(v, row_of, f"{field}[{j}]") for j, v in enumerate(value)]


def parse_inputs(
    inputs: Sequence[Any], row_of: dict[str, int], width: int, takes_text: bool
) -> NodeRefs:
    """Check every input; raise InvalidInput naming `inputs[i]...` for the first bad one."""
    refs = NodeRefs([], [])
    for i, item in enumerate(inputs):
        field = f"inputs[{i}]"
        if not isinstance(item, dict):
            refs.known.append((i, _node_row(item, row_of, field)))
            continue
        unknown = set(item) - KEYS
        if unknown:
            raise InvalidInput(f"unknown keys {sorted(unknown)}; allowed: {sorted(KEYS)}", field)
        given = [k for k in ("id", "features", "text") if k in item]
        if len(given) != 1:
            raise InvalidInput("give exactly one of id, features or text", field)
        if given == ["text"] and not takes_text:
            raise InvalidInput("this model's node features are vectors; send features", field)
        if given == ["text"] and not isinstance(item["text"], str):
            raise InvalidInput("text must be a string", f"{field}.text")
        if given == ["id"] and "edges" not in item:  # was an isolated node: edges = []
            refs.known.append((i, _node_row(item["id"], row_of, f"{field}.id")))
            continue
        edges = _edges(item.get("edges", []), row_of, f"{field}.edges")
        if "id" in item:
            refs.adhoc.append((i, _node_row(item["id"], row_of, f"{field}.id"), None, edges))
        elif "features" in item:
            feats = _features(item["features"], width, f"{field}.features")
            refs.adhoc.append((i, None, feats, edges))
        else:
            refs.adhoc.append((i, None, item["text"], edges))
    return refs


def edge_lists(refs: NodeRefs) -> list[np.ndarray]:
    """The new nodes' first hops, in the order of `refs.adhoc`."""
    return [np.asarray(edges, dtype=np.int64) for _, _, _, edges in refs.adhoc]

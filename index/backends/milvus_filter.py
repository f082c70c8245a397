"""Qdrant-shaped filters as Milvus boolean expressions over a derived JSON `terms` field.

Milvus compares JSON values loosely (`true == 1`, `1 == 1.0`), has no "any element satisfies"
for ranges over arrays, and a comparison on a missing key is NULL, which `not` keeps NULL. So
each point also stores a derived document whose every predicate is a plain, typed, defined test:

- `m`: hashed (key path, type, value) tokens -> `match.value` / `match.any` are `json_contains`;
- `e`: per key path, the distinct hashed (type, value) of its elements -> `match.except` is
  "some position holds a token outside the list";
- `n`: per key path, its numbers (ints and floats, not bools) -> `range` is "some position in
  range".

Positions are unrolled up to the widest list seen (`Widths`), each guarded by `exists`, so an
expression is never NULL and `must_not` negates exactly. Hashes keep user strings out of the
expression text (no quoting or injection); range bounds, the only values written out, are checked
to be finite numbers (`_number`). Semantics are those of `index.filter_sql` and the tests'
brute-force oracle: a condition on an array holds when any element satisfies it; nulls are absent.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from index.errors import InvalidFilter
from index.filter_model import FieldCondition, Filter, Match, Range
from index.filters import sql_only_conditions

FIELD = "terms"
TRUE, FALSE = "true", "false"


@dataclass
class Widths:
    """The longest per-key lists stored so far (they only grow): bounds of the unrolled ORs."""

    distinct: int = 0
    numbers: int = 0

    def grow(self, terms: dict[str, Any]) -> None:
        self.distinct = max(self.distinct, *map(len, terms["e"].values()), 0)
        self.numbers = max(self.numbers, *map(len, terms["n"].values()), 0)


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _typed(value: Any) -> list[Any]:
    """(type, value) with bool, int, float and str kept apart, as the filter compares them."""
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, float):
        return ["f", value]
    if isinstance(value, str):
        return ["s", value]
    return ["x", value]  # objects, lists and nulls inside lists: equal to no match value


def _nodes(payload: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every key reachable through objects."""
    for key, value in payload.items():
        path = (*prefix, str(key))
        yield ".".join(path), value
        if isinstance(value, dict):
            yield from _nodes(value, path)


def payload_terms(payload: dict[str, Any]) -> dict[str, Any]:
    """The derived filter document of one payload."""
    members: set[str] = set()
    distinct: dict[str, list[str]] = {}
    numbers: dict[str, list[float]] = {}
    for path, value in _nodes(payload):
        elements = value if isinstance(value, list) else ([] if value is None else [value])
        if not elements:
            continue
        typed = [_typed(v) for v in elements]
        members.update(_hash([path, *t]) for t in typed if t[0] != "x")
        distinct[_hash(path)] = sorted({_hash(t) for t in typed})
        nums = [v for t, v in typed if t in ("i", "f")]
        if nums:
            numbers[_hash(path)] = nums
    return {"m": sorted(members), "e": distinct, "n": numbers}


def to_expression(flt: Filter, widths: Widths) -> str:
    """The Milvus expression selecting exactly the points the filter keeps."""
    unsupported = sql_only_conditions(flt)
    if unsupported:  # Milvus evaluates filters itself; these conditions have no expression yet
        kinds = ", ".join(sorted(set(unsupported)))
        raise InvalidFilter(f"the milvus backend cannot evaluate: {kinds}", "filter")
    parts = []
    for clause, joiner, negate in (
        (flt.must, " and ", False),
        (flt.should, " or ", False),
        (flt.must_not, " or ", True),
    ):
        if not clause:
            continue
        combined = "(" + joiner.join(_item(item, widths) for item in clause) + ")"
        parts.append(f"(not {combined})" if negate else combined)
    return " and ".join(parts) or TRUE


def _item(item: FieldCondition | Filter, widths: Widths) -> str:
    if isinstance(item, Filter):
        return "(" + to_expression(item, widths) + ")"
    if item.range is not None:
        return _range(item.key, item.range, widths.numbers)
    assert item.match is not None
    return _match(item.key, item.match, widths.distinct)


def _quoted(tokens: list[str]) -> str:
    return ", ".join(f'"{t}"' for t in tokens)  # hex digests: nothing to escape


def _match(key: str, match: Match, width: int) -> str:
    if match.value is not None:
        return f'json_contains({FIELD}["m"], "{_hash([key, *_typed(match.value)])}")'
    if match.any is not None:
        if not match.any:
            return FALSE
        tokens = [_hash([key, *_typed(v)]) for v in match.any]
        return f'json_contains_any({FIELD}["m"], [{_quoted(tokens)}])'
    assert match.except_ is not None
    excluded = [_hash(_typed(v)) for v in match.except_]
    positions = []
    for j in range(width):
        slot = f'{FIELD}["e"]["{_hash(key)}"][{j}]'
        outside = "".join(f' and {slot} != "{t}"' for t in excluded)
        positions.append(f"((exists {slot}){outside})")  # 2.3 binds `exists` loosely
    return "(" + " or ".join(positions) + ")" if positions else FALSE


def _number(value: Any) -> str:
    """A numeric literal for the expression: the only filter value written out, not hashed."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"range bound must be a finite number, not {value!r}")
    return repr(value)


def _range(key: str, rng: Range, width: int) -> str:
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    positions = []
    for j in range(width):
        slot = f'{FIELD}["n"]["{_hash(key)}"][{j}]'
        bounds = "".join(
            f" and {slot} {op} {_number(getattr(rng, name))}"
            for name, op in ops.items()
            if getattr(rng, name) is not None
        )
        positions.append(f"((exists {slot}){bounds})")
    return "(" + " or ".join(positions) + ")" if positions else FALSE

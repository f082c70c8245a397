"""A validated Filter compiled to a SQLite WHERE clause over the JSON payload.

A condition on an array field holds when any element satisfies it, as in Qdrant. Keys, JSON
paths, ids and values all travel as bound parameters, never as SQL text.
"""

from __future__ import annotations

import json
from typing import Any

from index import instants, text_words
from index.filter_model import (
    ARRAY,
    DatetimeCondition,
    DatetimeRange,
    Filter,
    HasId,
    IsEmpty,
    IsNull,
    Match,
    MinShould,
    Range,
    SqlOnly,
    TextCondition,
    ValuesCountCondition,
)
from index.text_words import words


def compile_filter(flt: Filter) -> tuple[str, list[Any]]:
    """SQL boolean expression over `points.payload` and its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    for clause, joiner, negate in (
        (flt.must, " AND ", False),
        (flt.should, " OR ", False),
        (flt.must_not, " OR ", True),
    ):
        if not clause:
            continue
        sqls = []
        for item in clause:
            sql, p = _compile_item(item)
            sqls.append(sql)
            params.extend(p)
        combined = _balanced(sqls, joiner)
        parts.append(f"NOT {combined}" if negate else combined)
    return (" AND ".join(parts) or "1"), params


def _compile_item(item: Any) -> tuple[str, list[Any]]:
    if isinstance(item, Filter):
        sql, params = compile_filter(item)
        return f"({sql})", params
    if isinstance(item, SqlOnly):
        return _sql_only(item)
    path = element_path(item.key)
    if item.range is not None:
        return _range_sql(path, item.range)
    assert item.match is not None
    return _match_sql(path, item.match)


def json_path(key: str) -> str:
    """Dotted payload key -> JSON path of quoted labels; it is bound as a parameter, never SQL.

    Each label is JSON-escaped exactly as the store writes payload keys (`json.dumps`, ASCII), so
    it matches both SQLite < 3.45 (compares the raw label text) and later (compares decoded).
    """
    return "$" + "".join("." + json.dumps(part) for part in key.split("."))


def element_path(key: str) -> str | tuple[str, ...]:
    """The JSON path of a key; for a key with `[]`, the path of the first array, then the path
    of each later part relative to an element ("$" for `[][]`, "" when the key ends in `[]`)."""
    if ARRAY not in key:
        return json_path(key)
    first, *rest = key.split(ARRAY)
    relative = ["$" if not part else json_path(part[1:]) for part in rest[:-1]]
    return (json_path(first), *relative, json_path(rest[-1][1:]) if rest[-1] else "")


def _exists_nested(
    paths: tuple[str, ...], predicate: str, params: list[Any], on_object: str
) -> tuple[str, list[Any]]:
    """`_exists` over a `[]` key: one json_each per array, each fed only an array (else an
    empty object, which has no rows), so an element that is not JSON is never parsed as JSON."""
    first, *middle, last = paths
    joins = [
        "json_each(CASE WHEN json_type(points.payload, ?) = 'array' "
        "THEN points.payload ELSE '{}' END, ?) AS a0"
    ]
    bound: list[Any] = [first, first]
    for i, rel in enumerate(middle, 1):
        prev = f"a{i - 1}"
        joins.append(
            f"json_each(CASE WHEN {prev}.type IN ('object', 'array') THEN (CASE WHEN "
            f"json_type({prev}.value, ?) = 'array' THEN {prev}.value ELSE '{{}}' END) "
            f"ELSE '{{}}' END, ?) AS a{i}"
        )
        bound += [rel, rel]
    elements = f"a{len(middle)}"
    if not last:  # the key ends in []: the elements themselves, named `e` for the predicate
        joins[-1] = joins[-1].removesuffix(f" AS {elements}") + " AS e"
        return f"EXISTS (SELECT 1 FROM {', '.join(joins)} WHERE {predicate})", [*bound, *params]
    value = (
        f"CASE IFNULL(CASE WHEN {elements}.type = 'object' THEN json_type({elements}.value, ?) "
        f"END, 'null') WHEN 'null' THEN 0 WHEN 'object' THEN {on_object} ELSE EXISTS (SELECT 1 "
        f"FROM json_each({elements}.value, ?) AS e WHERE {predicate}) END"
    )
    sql = f"EXISTS (SELECT 1 FROM {', '.join(joins)} WHERE {value})"
    return sql, [*bound, last, last, *params]


def _exists(
    path: str | tuple[str, ...], predicate: str, params: list[Any], on_object: str = "0"
) -> tuple[str, list[Any]]:
    """Some element at the path satisfies the predicate; the path is a bound parameter.

    The elements are an array's items (nulls included), else the value itself; a null or
    missing value has none. An object is one element equal to nothing (`on_object` says whether
    it satisfies the condition): json_each would walk its members instead. The branch is taken
    on json_type, not on json_each's `key` column, whose value for a scalar differs across
    SQLite versions.
    """
    if isinstance(path, tuple):
        return _exists_nested(path, predicate, params, on_object)
    sql = (
        "CASE IFNULL(json_type(points.payload, ?), 'null') WHEN 'null' THEN 0 "
        f"WHEN 'object' THEN {on_object} "
        f"ELSE EXISTS (SELECT 1 FROM json_each(points.payload, ?) AS e WHERE {predicate}) END"
    )
    return sql, [path, path, *params]


def _except(
    path: str | tuple[str, ...], predicate: str, params: list[Any]
) -> tuple[str, list[Any]]:
    """Some element is outside the list: an object value always is."""
    return _exists(path, f"NOT {predicate}", params, on_object="1")


def _typed_eq(value: Any) -> tuple[str, list[Any]]:
    if isinstance(value, bool):
        return ("e.type = 'true'" if value else "e.type = 'false'"), []
    if isinstance(value, int):
        return "(e.type = 'integer' AND e.value = ?)", [value]
    return "(e.type = 'text' AND e.value = ?)", [value]


def _match_sql(path: str | tuple[str, ...], match: Match) -> tuple[str, list[Any]]:
    if match.value is not None:
        predicate, params = _typed_eq(match.value)
        return _exists(path, predicate, params)
    values = match.any if match.any is not None else match.except_
    assert values is not None
    # any of nothing matches nothing; except nothing matches every point with the key. The list
    # is one bound JSON array: an OR per value passed SQLite's expression depth near 500 values
    kind = "integer" if values and isinstance(values[0], int) else "text"
    predicate = f"(e.type = '{kind}' AND e.value IN (SELECT value FROM json_each(?)))"
    predicate, params = (predicate, [json.dumps(values)]) if values else ("(0)", [])
    if match.any is not None:
        return ("0", []) if not values else _exists(path, predicate, params)
    return _except(path, predicate, params)


GROUP = 8  # terms joined flat before nesting: SQLite caps an expression's depth at 1,000


def _balanced(terms: list[str], joiner: str) -> str:
    """`(a OR b OR ...)` nested as a balanced tree: a flat chain of 1,000 conditions passed
    SQLite's expression depth (a 500)."""
    if len(terms) <= GROUP:
        return "(" + joiner.join(terms) + ")"
    half = len(terms) // 2
    return "(" + _balanced(terms[:half], joiner) + joiner + _balanced(terms[half:], joiner) + ")"


def _sql_only(item: SqlOnly) -> tuple[str, list[Any]]:
    """SQL of the conditions the payload index leaves to SQLite; every value is bound."""
    if isinstance(item, HasId):
        return "points.id IN (SELECT value FROM json_each(?))", [json.dumps(_ids(item.has_id))]
    if isinstance(item, IsNull):  # null, or an array holding a null (Qdrant's server, 1.19.1)
        path = json_path(item.is_null.key)
        sql = (
            "(CASE IFNULL(json_type(points.payload, ?), '') WHEN 'null' THEN 1 WHEN 'array' THEN "
            "EXISTS(SELECT 1 FROM json_each(points.payload, ?) WHERE type = 'null') ELSE 0 END)"
        )
        return sql, [path, path]
    if isinstance(item, IsEmpty):
        path = json_path(item.is_empty.key)
        return f"({_COUNT} = 0)", [path, path]
    if isinstance(item, DatetimeCondition):
        return _range_sql(element_path(item.field), item.bounds, f"{instants.FUNCTION}(e.value)")
    if isinstance(item, TextCondition):
        wanted = words(item.match.text)
        if not wanted:  # no word to look for: Qdrant's engine matches nothing
            return "0", []
        predicate = f"(e.type = 'text' AND {text_words.FUNCTION}(e.value, ?))"
        return _exists(element_path(item.field), predicate, [" ".join(wanted)])
    if isinstance(item, ValuesCountCondition):
        path = json_path(item.field)
        ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        bounds = [(op, getattr(item.values_count, n)) for n, op in ops.items()]
        tests = " AND ".join(f"c {op} ?" for op, b in bounds if b is not None)
        sql = f"(SELECT {tests} FROM (SELECT {_COUNT} AS c))"
        return sql, [*(b for _, b in bounds if b is not None), path, path]  # in SQL order
    assert isinstance(item, MinShould)
    spec = item.min_should
    compiled = [_compile_item(c) for c in spec.conditions]
    total = _balanced([f"({sql})" for sql, _ in compiled], " + ") if compiled else "0"
    return f"(({total}) >= ?)", [*(p for _, ps in compiled for p in ps), spec.min_count]


# how many values a key holds: an array's items, one for a value, none for null or absent
_COUNT = (
    "(CASE IFNULL(json_type(points.payload, ?), 'null') WHEN 'null' THEN 0 "
    "WHEN 'array' THEN json_array_length(points.payload, ?) ELSE 1 END)"
)


def _ids(ids: list[str | int]) -> list[str]:
    return [str(i) for i in ids]


def _range_sql(
    path: str | tuple[str, ...], rng: Range | DatetimeRange, instant_of: str | None = None
) -> tuple[str, list[Any]]:
    """Numbers within the bounds; with `instant_of` (SQL giving a string's epoch seconds, NULL
    for a string that is no date-time), date-time strings within them."""
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    preds = ["e.type IN ('integer', 'real')" if instant_of is None else "e.type = 'text'"]
    value = instant_of or "e.value"
    params: list[Any] = []
    for name, op in ops.items():
        bound = getattr(rng, name)
        if bound is not None:
            preds.append(f"{value} {op} ?")
            params.append(bound)
    return _exists(path, " AND ".join(preds), params)

"""Qdrant-shaped payload filters compiled to a SQLite WHERE clause over the JSON payload.

`must`: every condition holds; `should`: at least one holds; `must_not`: none holds. Clauses
combine with AND and nest. A condition on an array field holds when any element satisfies it,
as in Qdrant. Keys, JSON paths and values all travel as bound parameters, never as SQL text.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from index.errors import InvalidFilter


def _utf8(text: str) -> str:
    # a lone surrogate ("\ud800" in JSON) cannot be bound to SQLite: refuse it up front
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid unicode (no lone surrogates)") from None
    return text


def _no_nul(text: str) -> str:
    # SQLite 3.40 decodes a JSON "\u0000" by ending the string there, so a value holding it
    # could never be compared exactly: refuse it rather than answer wrongly
    if "\x00" in text:
        raise ValueError("a match value may not contain NUL (\\u0000)")
    return text


# SQLite integers are 64-bit (a larger bound would fail to bind) and NaN/inf order nothing.
Text = Annotated[StrictStr, AfterValidator(_utf8)]
Value = Annotated[Text, AfterValidator(_no_nul)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Scalar = Value | Int64 | StrictBool
Number = Int64 | Finite


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(_Strict):
    value: Scalar | None = None
    any: list[Value] | list[Int64] | None = None
    except_: list[Value] | list[Int64] | None = Field(None, alias="except")

    @model_validator(mode="after")
    def _exactly_one(self) -> Match:
        given = [v for v in (self.value, self.any, self.except_) if v is not None]
        if len(given) != 1:
            raise ValueError("match needs exactly one of: value, any, except")
        return self


class Range(_Strict):
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Range:
        # an empty range would silently mean "the key holds a number": refuse it as a mistake
        if all(getattr(self, b) is None for b in ("gt", "gte", "lt", "lte")):
            raise ValueError("range needs at least one of: gt, gte, lt, lte")
        return self


class FieldCondition(_Strict):
    key: Text = Field(min_length=1)
    match: Match | None = None
    range: Range | None = None

    @field_validator("key")
    @classmethod
    def _no_quote(cls, key: str) -> str:
        # SQLite before 3.45 ends a quoted path label at the first `"`, escaped or not
        if '"' in key:
            raise ValueError('a key may not contain a double quote (")')
        return key

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        if (self.match is None) == (self.range is None):
            raise ValueError("a condition needs exactly one of: match, range")
        return self


class Filter(_Strict):
    must: list[FieldCondition | Filter] | None = None
    should: list[FieldCondition | Filter] | None = None
    must_not: list[FieldCondition | Filter] | None = None


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
        combined = "(" + joiner.join(sqls) + ")"
        parts.append(f"NOT {combined}" if negate else combined)
    return (" AND ".join(parts) or "1"), params


def _compile_item(item: FieldCondition | Filter) -> tuple[str, list[Any]]:
    if isinstance(item, Filter):
        sql, params = compile_filter(item)
        return f"({sql})", params
    path = json_path(item.key)
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


def _exists(
    path: str, predicate: str, params: list[Any], on_object: str = "0"
) -> tuple[str, list[Any]]:
    """Some element at the path satisfies the predicate; the path is a bound parameter.

    The elements are an array's items (nulls included), else the value itself; a null or
    missing value has none. An object is one element equal to nothing (`on_object` says whether
    it satisfies the condition): json_each would walk its members instead. The branch is taken
    on json_type, not on json_each's `key` column, whose value for a scalar differs across
    SQLite versions.
    """
    sql = (
        "CASE IFNULL(json_type(points.payload, ?), 'null') WHEN 'null' THEN 0 "
        f"WHEN 'object' THEN {on_object} "
        f"ELSE EXISTS (SELECT 1 FROM json_each(points.payload, ?) AS e WHERE {predicate}) END"
    )
    return sql, [path, path, *params]


def _except(path: str, predicate: str, params: list[Any]) -> tuple[str, list[Any]]:
    """Some element is outside the list: an object value always is."""
    return _exists(path, f"NOT {predicate}", params, on_object="1")


def _typed_eq(value: Any) -> tuple[str, list[Any]]:
    if isinstance(value, bool):
        return ("e.type = 'true'" if value else "e.type = 'false'"), []
    if isinstance(value, int):
        return "(e.type = 'integer' AND e.value = ?)", [value]
    return "(e.type = 'text' AND e.value = ?)", [value]


def _match_sql(path: str, match: Match) -> tuple[str, list[Any]]:
    if match.value is not None:
        predicate, params = _typed_eq(match.value)
        return _exists(path, predicate, params)
    values = match.any if match.any is not None else match.except_
    assert values is not None
    # any of nothing matches nothing; except nothing matches every point with the key
    preds = [_typed_eq(v) for v in values]
    predicate = "(" + (" OR ".join(p for p, _ in preds) or "0") + ")"
    params = [x for _, ps in preds for x in ps]
    if match.any is not None:
        return ("0", []) if not values else _exists(path, predicate, params)
    return _except(path, predicate, params)


def _range_sql(path: str, rng: Range) -> tuple[str, list[Any]]:
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    preds = ["e.type IN ('integer', 'real')"]
    params: list[Any] = []
    for name, op in ops.items():
        bound = getattr(rng, name)
        if bound is not None:
            preds.append(f"e.value {op} ?")
            params.append(bound)
    return _exists(path, " AND ".join(preds), params)


def parse_filter(raw: dict[str, Any] | Filter | None) -> Filter | None:
    """Validate a raw filter dict, raising InvalidFilter with the failing location."""
    if raw is None or isinstance(raw, Filter):
        return raw
    try:
        return Filter.model_validate(raw)
    except ValidationError as exc:
        # A union reports every branch; the user's branch is the one not refusing a condition's
        # fields as a nested Filter's extras, then the deepest, then not a mere type mismatch.
        loc, error = max(((_user_loc(e), e) for e in exc.errors()), key=_rank)
        reason = error["msg"].removeprefix("Value error, ")
        message = f"invalid filter at {'.'.join(loc) or 'top level'}: {reason}"
        raise InvalidFilter(message, "filter") from None


def _user_loc(error: Any) -> list[str]:
    # drop pydantic's union/validator tags so the location reads like the user's JSON
    return [str(p) for p in error["loc"] if not _is_tag(str(p))]


def _rank(located: tuple[list[str], Any]) -> tuple[bool, int, bool]:
    loc, error = located
    as_filter_extra = error["type"] == "extra_forbidden" and "Filter" in error["loc"]
    return (not as_filter_extra, len(loc), not error["type"].endswith("_type"))


def _is_tag(part: str) -> bool:
    return (
        "[" in part
        or part.startswith("constrained-")
        or part in {"FieldCondition", "Filter", "str", "int", "bool", "float"}
    )

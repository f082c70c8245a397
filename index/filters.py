"""Qdrant-shaped payload filters compiled to a SQLite WHERE clause over the JSON payload.

`must`: every condition holds; `should`: at least one holds; `must_not`: none holds. Clauses
combine with AND and nest. A condition on an array field holds when any element satisfies it,
as in Qdrant.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from index.errors import InvalidFilter

Scalar = StrictStr | StrictInt | StrictBool
Number = StrictInt | StrictFloat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(_Strict):
    value: Scalar | None = None
    any: list[StrictStr] | list[StrictInt] | None = None
    except_: list[StrictStr] | list[StrictInt] | None = Field(None, alias="except")

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


class FieldCondition(_Strict):
    key: str = Field(min_length=1, pattern=r'^[^"$\[\]]+$')
    match: Match | None = None
    range: Range | None = None

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
    """Dotted payload key -> quoted JSON path, so keys are never parsed as SQL or path syntax."""
    return "$" + "".join(f'."{part}"' for part in key.split("."))


def _exists(path: str, predicate: str) -> str:
    # json_each yields one row for a scalar and one per element for an array: Qdrant's semantics.
    return f"EXISTS (SELECT 1 FROM json_each(points.payload, '{path}') AS e WHERE {predicate})"


def _typed_eq(value: Any) -> tuple[str, list[Any]]:
    if isinstance(value, bool):
        return ("e.type = 'true'" if value else "e.type = 'false'"), []
    if isinstance(value, int):
        return "(e.type = 'integer' AND e.value = ?)", [value]
    return "(e.type = 'text' AND e.value = ?)", [value]


def _match_sql(path: str, match: Match) -> tuple[str, list[Any]]:
    if match.value is not None:
        predicate, params = _typed_eq(match.value)
        return _exists(path, predicate), params
    values = match.any if match.any is not None else match.except_
    assert values is not None
    if not values:
        # any of nothing matches nothing; except nothing matches every point with the key
        return ("0", []) if match.any is not None else (_exists(path, "1"), [])
    preds = [_typed_eq(v) for v in values]
    predicate = "(" + " OR ".join(p for p, _ in preds) + ")"
    params = [x for _, ps in preds for x in ps]
    if match.any is not None:
        return _exists(path, predicate), params
    return _exists(path, f"NOT {predicate}"), params


def _range_sql(path: str, rng: Range) -> tuple[str, list[Any]]:
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    preds = ["e.type IN ('integer', 'real')"]
    params: list[Any] = []
    for name, op in ops.items():
        bound = getattr(rng, name)
        if bound is not None:
            preds.append(f"e.value {op} ?")
            params.append(bound)
    return _exists(path, " AND ".join(preds)), params


def parse_filter(raw: dict[str, Any] | Filter | None) -> Filter | None:
    """Validate a raw filter dict, raising InvalidFilter with the failing location."""
    if raw is None or isinstance(raw, Filter):
        return raw
    try:
        return Filter.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # drop pydantic's union/validator tags so the location reads like the user's JSON
        loc = ".".join(str(p) for p in errors[0]["loc"] if not _is_tag(str(p)))
        message = f"invalid filter at {loc or 'top level'}: {errors[0]['msg']}"
        raise InvalidFilter(message, "filter") from None


def _is_tag(part: str) -> bool:
    return "[" in part or part in {"FieldCondition", "Filter", "str", "int", "bool", "float"}

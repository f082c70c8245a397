"""Typed `filter` and `params` for the OpenAPI document; the engine still receives the dict.

The models describe Qdrant's filter language (field conditions, `has_id`, `is_empty`,
`is_null`, `values_count`, `min_should`, nested filters), each condition told apart by its keys.
Requests are only checked to be objects here: index/filters.py and each index backend validate
them fully and answer `invalid_filter` / `invalid_index_params` naming the failing location, so
the schema never refuses what the engine would accept (or the reverse, with another error code).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictInt, StrictStr

from service.schemas.common import PointId

Scalar = StrictStr | StrictInt | StrictBool


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchCondition(_Schema):
    """Exactly one of `value`, `any`, `except`."""

    value: Scalar | None = None
    any: list[StrictStr] | list[StrictInt] | None = None
    except_: list[StrictStr] | list[StrictInt] | None = Field(None, alias="except")


# a number, or an RFC 3339 date-time for a date-time range (Qdrant's DatetimeRange)
Bound = float | Annotated[StrictStr, Field(json_schema_extra={"format": "date-time"})]


class RangeCondition(_Schema):
    """At least one bound: numbers, or date-times compared as instants."""

    gt: Bound | None = None
    gte: Bound | None = None
    lt: Bound | None = None
    lte: Bound | None = None


class ValuesCount(_Schema):
    """Bounds on how many values a key holds (an array's length; a scalar counts 1)."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None


class FieldCondition(_Schema):
    """A condition on payload key `key` (dotted path; `a[].b` walks an array's objects)."""

    key: str = Field(min_length=1)
    match: MatchCondition | None = None
    range: RangeCondition | None = None
    values_count: ValuesCount | None = None


class PayloadKey(_Schema):
    key: str = Field(min_length=1)


class IsEmptyCondition(_Schema):
    """The key is missing, null or an empty array."""

    is_empty: PayloadKey


class IsNullCondition(_Schema):
    """The key holds null."""

    is_null: PayloadKey


class HasIdCondition(_Schema):
    """The point's id is one of these."""

    has_id: list[PointId]


class MinShould(_Schema):
    """At least `min_count` of `conditions` hold."""

    conditions: list[Condition]
    min_count: int = Field(ge=1, le=2**63 - 1)


class Filter(_Schema):
    """`must`: all hold; `should`: at least one holds; `must_not`: none holds; nestable."""

    must: list[Condition] | None = None
    should: list[Condition] | None = None
    must_not: list[Condition] | None = None
    min_should: MinShould | None = None


Condition = FieldCondition | IsEmptyCondition | IsNullCondition | HasIdCondition | Filter
MinShould.model_rebuild()
Filter.model_rebuild()


class IndexSearchParams(_Schema):
    """Per-query search knobs; which apply depends on the collection's index type."""

    ef: int | None = Field(None, ge=1, le=32768, description="HNSW beam width (>= k is used)")
    nprobe: int | None = Field(None, ge=1, description="IVF lists probed")
    rescore: bool | None = Field(
        None, description="any index: re-rank an oversampled shortlist with the stored vectors"
    )
    exact: bool | None = Field(
        None, description="any index: score every stored vector the filter keeps (no index)"
    )


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


# Documented as the typed models, validated as plain objects (see the module docstring).
FilterDict = Annotated[dict[str, Any], PlainValidator(_object, json_schema_input_type=Filter)]
ParamsDict = Annotated[
    dict[str, Any], PlainValidator(_object, json_schema_input_type=IndexSearchParams)
]

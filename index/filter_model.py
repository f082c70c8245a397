"""Qdrant-shaped payload filters: the pydantic models a raw filter validates into.

`must`: every condition holds; `should`: at least one holds; `must_not`: none holds;
`min_should`: at least `min_count` of its conditions hold. Clauses combine with AND and nest.
Besides `match` (value, any, except, text) and `range` there are `values_count`, `has_id`,
`is_empty` and `is_null`; a key may use `a[].b` to reach into arrays. index/filter_sql.py
compiles a Filter to SQL; index/filters.py parses raw filters into one.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

from index.filter_values import (
    DatetimeRange,
    Int64,
    Range,
    Scalar,
    Strict,
    Text,
    Value,
    ValuesCount,
    no_nul,
    utf8_only,
)


class Match(Strict):
    value: Scalar | None = None
    any: list[Value] | list[Int64] | None = None
    except_: list[Value] | list[Int64] | None = Field(None, alias="except")

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, value: Any) -> Any:
        """Qdrant's phrase and any-word matches, named (they were "Extra inputs")."""
        for name in ("phrase", "text_any"):
            if isinstance(value, dict) and name in value:
                raise ValueError(f"match.{name} is not supported (match.text is: every word)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Match:
        given = [v for v in (self.value, self.any, self.except_) if v is not None]
        if len(given) != 1:
            raise ValueError("match needs exactly one of: value, any, except")
        return self


class FieldCondition(Strict):
    key: Text = Field(min_length=1)
    match: Match | None = None
    range: Range | None = None

    @field_validator("key")
    @classmethod
    def _no_quote(cls, key: str) -> str:
        return _array_key(_plain_key(key))

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        if (self.match is None) == (self.range is None):
            raise ValueError("a condition needs exactly one of: match, range")
        return self


_INDEX_STEP = re.compile(r"\[\d+\]")


def _plain_key(key: str) -> str:
    # SQLite before 3.45 ends a quoted path label at the first `"`, escaped or not
    if '"' in key:
        raise ValueError('a key may not contain a double quote (")')
    if _INDEX_STEP.search(key):
        # Qdrant reads `l[0]` as an index step; read here as a label it matched nothing
        raise ValueError("index steps such as [0] are not supported; [] means any element")
    return key


def _array_key(key: str) -> str:
    # `a[].b`: b of each element of the array a; `[]` ends a label, then `.` or the key's end
    first, *rest = key.split(ARRAY)
    if rest and (not first or any(part and not part.startswith(".") for part in rest)):
        raise ValueError("[] must follow a key and be followed by '.' or the end of the key")
    if any(part == "." for part in rest):
        raise ValueError("a key may not end with '.'")
    return key


def _no_array(key: str) -> str:
    if ARRAY in key:
        raise ValueError("[] paths are supported in match and range conditions only")
    return key


ARRAY = "[]"
# min_length sits on the str itself: after a validator pydantic words it "at least 1 item"
_NonEmpty = Annotated[StrictStr, Field(min_length=1), AfterValidator(utf8_only)]
Key = Annotated[_NonEmpty, AfterValidator(_plain_key), AfterValidator(_array_key)]
PlainKey = Annotated[_NonEmpty, AfterValidator(_plain_key), AfterValidator(_no_array)]


class SqlOnly(Strict):
    """A condition only SQLite answers. The payload index reads `key` and `range` of each
    condition to decide what it covers; reading None here, it leaves these to SQLite."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    key: ClassVar[None] = None
    range: ClassVar[None] = None


class MatchText(Strict):
    text: Value  # "" has no word: it holds for nothing, as in Qdrant's engine


class TextCondition(SqlOnly):
    """`{"key", "match": {"text"}}`: some string element holds every word of the text
    (index/text_words.py: letters and digits, lower-cased, as Qdrant's engine reads it)."""

    field: Key = Field(alias="key")
    match: MatchText


class DatetimeCondition(SqlOnly):
    """`{"key", "range"}` with date-time bounds (Qdrant's DatetimeRange): some string element
    is a date-time within them (index/instants.py); bounds are kept as epoch seconds."""

    field: Key = Field(alias="key")
    bounds: DatetimeRange = Field(alias="range")


class ValuesCountCondition(SqlOnly):
    """`{"key", "values_count"}`: an array counts its items, a value 1, null or absent 0."""

    field: PlainKey = Field(alias="key")
    values_count: ValuesCount


class PayloadField(Strict):
    key: PlainKey


class IsEmpty(SqlOnly):
    """The key is absent, null or an empty array."""

    is_empty: PayloadField


class IsNull(SqlOnly):
    """The key is present and null."""

    is_null: PayloadField


PointIdValue = Annotated[_NonEmpty, AfterValidator(no_nul)] | Annotated[StrictInt, Field(ge=0)]


class HasId(SqlOnly):
    """The point's id is one of these (integers stand for their decimal string, as ids do)."""

    has_id: list[PointIdValue]


class MinShouldSpec(Strict):
    conditions: list[Condition]
    # at least 1, as Qdrant (0 held for every point); SQLite binds 64-bit integers
    min_count: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]


class MinShould(SqlOnly):
    """At least `min_count` of the conditions hold (Qdrant's `min_should`, moved into `must`)."""

    min_should: MinShouldSpec


def _as_list(value: Any) -> Any:
    # Qdrant takes a single condition where a list is expected
    return [value] if isinstance(value, dict) else value


class Filter(Strict):
    must: list[Condition] | None = None
    should: list[Condition] | None = None
    must_not: list[Condition] | None = None
    min_should: MinShouldSpec | None = None

    @cached_property
    def cache_key(self) -> str:
        """A string equal for equal filters (the key of a collection's match cache), computed
        once: a parsed filter is shared by every search that sends the same one."""
        return repr(self)

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, raw: Any) -> Any:
        # Qdrant takes a single condition where a list is expected
        if not isinstance(raw, dict):
            return raw
        return {k: _as_list(v) if k in _CLAUSES else v for k, v in raw.items()}

    @model_validator(mode="after")
    def _min_should_in_must(self) -> Filter:
        """`min_should` becomes a `must` condition, so whatever answers `must` (SQLite, or the
        payload index when it covers every condition) sees it. An empty `should` is no
        constraint, as in Qdrant's engine (qdrant-edge and qdrant-client's local mode match
        every point; here it had matched none, so a client building `should` from optional
        terms lost every result)."""
        if self.should == []:
            self.should = None
        if self.min_should is not None:
            self.must = [*(self.must or []), MinShould(min_should=self.min_should)]
            self.min_should = None
        return self


_CLAUSES = ("must", "should", "must_not")
# Tags of the condition union. A condition without a keyword of the newer kinds is validated as
# `FieldCondition | Filter` (pydantic's "smart" union), exactly as before those kinds existed, so
# its error messages stay as they were; "[" marks a tag for parse_filter to drop from locations.
LEGACY = "[condition]"
_MARKERS = (("has_id", "[HasId]"), ("is_empty", "[IsEmpty]"), ("is_null", "[IsNull]"))


def _kind(item: Any) -> str:
    """The union member an item is meant as, read from its keywords: a validation error then
    speaks of that member only, not of every member of the union."""
    if isinstance(item, BaseModel):
        name = type(item).__name__
        return LEGACY if name in ("FieldCondition", "Filter") else f"[{name}]"
    if not isinstance(item, dict):
        return LEGACY
    if "key" in item or "match" in item or "range" in item or "values_count" in item:
        if "values_count" in item:
            return "[ValuesCountCondition]"
        bounds = item.get("range")
        if isinstance(bounds, dict) and any(isinstance(b, str) for b in bounds.values()):
            return "[DatetimeCondition]"
        match = item.get("match")
        text = isinstance(match, dict) and "text" in match
        return "[TextCondition]" if text else LEGACY
    # a raw {"min_should": ...} item is a nested Filter; only Filter builds MinShould itself
    return next((kind for name, kind in _MARKERS if name in item), LEGACY)


Condition = Annotated[
    Annotated[FieldCondition | Filter, Tag(LEGACY)]
    | Annotated[TextCondition, Tag("[TextCondition]")]
    | Annotated[DatetimeCondition, Tag("[DatetimeCondition]")]
    | Annotated[ValuesCountCondition, Tag("[ValuesCountCondition]")]
    | Annotated[IsEmpty, Tag("[IsEmpty]")]
    | Annotated[IsNull, Tag("[IsNull]")]
    | Annotated[HasId, Tag("[HasId]")]
    | Annotated[MinShould, Tag("[MinShould]")],
    Discriminator(_kind),
]
MinShouldSpec.model_rebuild()
Filter.model_rebuild()

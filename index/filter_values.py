"""The values a filter condition holds: scalars as SQLite can bind and compare them, and the
bounds of `range` (numbers, or date-times as epoch seconds) and `values_count`."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from index.instants import instant
from nestvec.text import is_unicode


def utf8_only(text: str) -> str:
    # a lone surrogate ("\ud800" in JSON) cannot be bound to SQLite: refuse it up front
    if not is_unicode(text):
        raise ValueError("text must be valid unicode (no lone surrogates)")
    return text


def no_nul(text: str) -> str:
    # SQLite 3.40 decodes a JSON "\u0000" by ending the string there, so a value holding it
    # could never be compared exactly: refuse it rather than answer wrongly
    if "\x00" in text:
        raise ValueError("a match value may not contain NUL (\\u0000)")
    return text


# SQLite integers are 64-bit (a larger bound would fail to bind) and NaN/inf order nothing.
Text = Annotated[StrictStr, AfterValidator(utf8_only)]
Value = Annotated[Text, AfterValidator(no_nul)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Scalar = Value | Int64 | StrictBool
Number = Int64 | Finite


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Bounds(Strict):
    what: ClassVar[str] = "range"

    @model_validator(mode="after")
    def _some_bound(self) -> _Bounds:
        # an empty range would silently mean "the key holds a number": refuse it as a mistake
        if all(getattr(self, b) is None for b in ("gt", "gte", "lt", "lte")):
            raise ValueError(f"{self.what} needs at least one of: gt, gte, lt, lte")
        return self


class Range(_Bounds):
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None


def _instant(text: str) -> float:
    moment = instant(text)
    if moment is None:
        raise ValueError("a bound is a number or an RFC 3339 date-time (2023-02-08T10:49:00Z)")
    return moment


DateTime = Annotated[StrictStr, AfterValidator(_instant)]  # seconds since the epoch, once valid


class DatetimeRange(_Bounds):
    gt: DateTime | None = None
    gte: DateTime | None = None
    lt: DateTime | None = None
    lte: DateTime | None = None


class ValuesCount(_Bounds):
    what: ClassVar[str] = "values_count"
    gt: Int64 | None = None
    gte: Int64 | None = None
    lt: Int64 | None = None
    lte: Int64 | None = None

"""Raw Qdrant-shaped filters parsed into index/filter_model.py's Filter, with errors that name
the failing location as the user's JSON spells it (index/filter_sql.py compiles a Filter)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from index.errors import InvalidFilter
from index.filter_model import ARRAY, LEGACY, Filter, MinShould, SqlOnly
from index.json_depth import json_depth
from nestvec.fields import field_path

# Raw filters whose parse is remembered, process-wide (parsing is pure and a Filter is never
# changed after it): a search sending the filter it sent before skips pydantic, which costs more
# than the search itself on a payload-indexed filter.
PARSED_KEPT = 256
PARSED_KEY_CHARS = 4096  # a longer filter (thousands of ids) is parsed each time, not kept
# SQLite's parser overflows its stack on about 35 nested filters (70 JSON levels); a real filter
# nests a few levels, so deeper ones are refused before they are compiled
MAX_FILTER_DEPTH = 40
_parsed: dict[str, Filter] = {}


def parse_filter(raw: dict[str, Any] | Filter | None) -> Filter | None:
    """Validate a raw filter dict, raising InvalidFilter with the failing location."""
    if raw is None or isinstance(raw, Filter):
        return raw
    # repr tells apart what validates differently (True and 1, 1.0 and 1, nan and None)
    try:
        key = repr(raw)
    except RecursionError:  # too deep to print, so too deep to keep: refused by _validate
        return _validate(raw)
    found = _parsed.get(key)
    if found is None:
        found = _validate(raw)
        if len(key) <= PARSED_KEY_CHARS:
            if len(_parsed) >= PARSED_KEPT:
                _parsed.clear()  # not an LRU: a workload this varied re-parses now and then
            _parsed[key] = found
    return found


def _validate(raw: Any) -> Filter:
    if json_depth(raw) > MAX_FILTER_DEPTH:
        message = f"invalid filter: nested deeper than {MAX_FILTER_DEPTH} JSON levels"
        raise InvalidFilter(message, "filter")
    raw = _nulls_absent(raw)
    try:
        return Filter.model_validate(raw)
    except ValidationError as exc:
        _refuse_unsupported(raw, [])  # a clearer reason than the model's for Qdrant's others
        # A union reports every branch; the user's branch is the one not refusing a condition's
        # fields as a nested Filter's extras, then the deepest, then not a mere type mismatch.
        loc, error = max(((_user_loc(e), e) for e in exc.errors()), key=_rank)
        reason = _match_type(loc, error) or error["msg"].removeprefix("Value error, ")
        message = f"invalid filter at {_at(loc) or 'top level'}: {reason}"
        raise InvalidFilter(message, "filter") from None


# Qdrant filter syntax this engine does not evaluate, by the key that introduces it
UNSUPPORTED = {
    "nested": "nested (array-of-objects) conditions",
    "has_vector": "has_vector conditions",
    "geo_bounding_box": "geo conditions",
    "geo_radius": "geo conditions",
    "geo_polygon": "geo conditions",
}


def _refuse_unsupported(raw: Any, loc: list[str]) -> None:
    """InvalidFilter naming Qdrant syntax that is not supported here (not "field required")."""
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            _refuse_unsupported(item, [*loc, str(i)])
    if not isinstance(raw, dict):
        return
    for key, value in raw.items():
        at = _at([*loc, key])
        if key in UNSUPPORTED:
            raise InvalidFilter(
                f"invalid filter at {at}: {UNSUPPORTED[key]} are not supported", "filter"
            )
        if key in ("must", "should", "must_not", "min_should", "conditions", "filter"):
            _refuse_unsupported(value, [*loc, key])


def _nulls_absent(raw: Any) -> Any:
    """The filter with null object fields left out, as Qdrant reads them (clients that send
    every field, `"values_count": null` beside a `match`, were refused)."""
    if isinstance(raw, dict):
        return {k: _nulls_absent(v) for k, v in raw.items() if v is not None}
    if isinstance(raw, list):
        return [_nulls_absent(v) for v in raw]
    return raw


def _at(loc: list[str]) -> str:
    # list positions come as digit strings here; a condition's own names never are digits
    return field_path(int(p) if p.isascii() and p.isdigit() else p for p in loc)


def _match_type(loc: list[str], error: Any) -> str | None:
    """What a match field holds, for a value of the wrong type: the union's last branch alone
    ("a valid string") hid that integers and booleans are allowed too."""
    if not error["type"].endswith("_type") or "match" not in loc:
        return None
    field = loc[len(loc) - 1 - loc[::-1].index("match") :][1:]
    if field == ["value"]:
        return "a match value must be a string, an integer or a boolean"
    if field[:1] in (["any"], ["except"]):
        return f"match.{field[0]} must be a list of strings or of integers (one kind, no null)"
    return None


def _user_loc(error: Any) -> list[str]:
    # drop pydantic's union/validator tags so the location reads like the user's JSON
    return [str(p) for p in error["loc"] if not _is_tag(str(p))]


def _rank(located: tuple[list[str], Any]) -> tuple[bool, int, bool]:
    loc, error = located
    return (not _as_filter_extra(error), len(loc), not error["type"].endswith("_type"))


def _as_filter_extra(error: Any) -> bool:
    """An extra key under a nested Filter (a condition's fields read as a Filter), unless it is
    one of the newer kinds' keys: those are refused by their own class, which reads better."""
    if error["type"] != "extra_forbidden":
        return False
    parts = [str(p) for p in error["loc"]]
    # Filter's own validators make pydantic name it "function-after[..., Filter]"
    in_filter = any(p == "Filter" or p.endswith(", Filter]") for p in parts)
    tags = [p for p in parts if p.startswith("[") and p.endswith("]")]
    return in_filter and (not tags or tags[-1] == LEGACY)


def _is_tag(part: str) -> bool:
    # "[": the condition union's tags (filter_model.LEGACY and the like) and list[...] members
    return (
        "[" in part
        or part.startswith("constrained-")
        or part in {"FieldCondition", "Filter", "str", "int", "bool", "float"}
    )


def sql_only_conditions(flt: Filter) -> list[str]:
    """The kinds of the conditions in `flt`, nested included, that only SQLite answers, `[]`
    keys included (for an engine that evaluates filters itself, e.g. Milvus, to refuse them by
    name; the payload index leaves them to SQLite already)."""
    found: list[str] = []
    for clause in (flt.must, flt.should, flt.must_not):
        for item in clause or ():
            if isinstance(item, Filter):
                found += sql_only_conditions(item)
            elif isinstance(item, MinShould):
                found.append("min_should")
            elif isinstance(item, SqlOnly):
                found.append(_KIND_NAMES[type(item).__name__])
            if ARRAY in (getattr(item, "key", None) or getattr(item, "field", None) or ""):
                found.append("a [] key")
    return found


_KIND_NAMES = {
    "TextCondition": "match.text",
    "DatetimeCondition": "a date-time range",
    "ValuesCountCondition": "values_count",
    "IsEmpty": "is_empty",
    "IsNull": "is_null",
    "HasId": "has_id",
}

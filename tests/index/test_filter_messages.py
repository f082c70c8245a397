"""Filter error messages: a filter of the grammar before Qdrant's further conditions is refused
with exactly the message it had then (pinned here from that code), and the further conditions
are refused at a location the user's JSON spells, with no pydantic union tag leaking in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from index.errors import InvalidFilter
from index.filters import parse_filter

KEPT: list[tuple[Any, str]] = [
    ({"must": [{"key": "g", "match": {"regex": "x"}}]}, "must[0].match.regex: Extra inputs"),
    ({"must": [{"key": "n", "range": {"gt": "ten"}}]}, "must[0].range.gt: a bound is a number or"),
    ({"must": [{"foo": 1}]}, "must[0].key: Field required"),
    ({"should": [{"match": {"value": 1}}]}, "should[0].key: Field required"),
    ({"must": [{"key": "a"}]}, "must[0]: a condition needs exactly one of: match, range"),
    ({"must": ["x"]}, "must[0]: Input should be a valid dictionary or instance of FieldCondition"),
    ({"must": [{"key": "a", "match": {"value": 1}, "foo": 1}]}, "must[0].foo: Extra inputs"),
    # a mistake inside a nested filter was located at the outer condition's key, and still is
    (
        {"should": [{"must": [{"key": "a", "match": {"value": 1}, "foo": 1}]}]},
        "should[0].key: Field required",
    ),
    ({"must": [{"must": [{"key": "a", "match": {"regex": 1}}]}]}, "must[0].key: Field required"),
    ({"must": [{"should": [{"key": 1}]}]}, "must[0].should[0].key: Input should be a valid string"),
    ({"must_not": [{"key": 'a"b', "match": {"value": 1}}]}, "must_not[0].key: a key may not"),
    ({"must": [{"key": "", "match": {"value": 1}}]}, "must[0].key: String should have at least"),
    ({"must": [{"key": "a", "match": {}}]}, "must[0].match: match needs exactly one of"),
    ({"must": [{"key": "a", "match": {"any": [1, "a"]}}]}, "must[0].match.any[0]: match.any must"),
    ({"must": [{"key": "a", "range": {}}]}, "must[0].range: range needs at least one of"),
    ({"must": [{"key": "a", "has_id": [1]}]}, "must[0].has_id: Extra inputs are not permitted"),
    ({"foo": []}, "foo: Extra inputs are not permitted"),
    ({"must": "x"}, "must: Input should be a valid list"),
    ("x", "top level: Input should be a valid dictionary or instance of Filter"),
]

NEW: list[tuple[Any, str]] = [
    ({"must": [{"has_id": "x"}]}, "must[0].has_id: Input should be a valid list"),
    ({"must": [{"has_id": [""]}]}, "must[0].has_id[0]: String should have at least 1 character"),
    ({"must": [{"has_id": [1], "must": []}]}, "must[0].must: Extra inputs are not permitted"),
    ({"should": [{"must": [{"has_id": [1], "x": 1}]}]}, "should[0].must[0].x: Extra inputs"),
    ({"must": [{"is_null": {"key": ""}}]}, "must[0].is_null.key: String should have at least 1"),
    ({"must": [{"is_empty": {"key": "a[]"}}]}, "must[0].is_empty.key: [] paths are supported"),
    ({"must": [{"key": "a", "match": {"text": "x", "value": 1}}]}, "must[0].match.value: Extra"),
    ({"must": [{"key": "a", "values_count": {}}]}, "must[0].values_count: values_count needs"),
    ({"must": [{"key": "", "values_count": {"gt": 1}}]}, "must[0].key: String should have at"),
    ({"min_should": {"conditions": [], "min_count": -1}}, "min_should.min_count: Input should"),
    ({"must": [{"min_should": {}}]}, "must[0].min_should.conditions: Field required"),
    # a wrong-typed match value named only the union's last branch ("a valid string")
    ({"must": [{"key": "a", "match": {"value": 1.5}}]}, "must[0].match.value: a match value must"),
    ({"must": [{"key": "a", "match": {"value": [1]}}]}, "must[0].match.value: a match value must"),
    ({"must": [{"key": "a", "match": {"except": [None]}}]}, "must[0].match.except[0]: match"),
    ({"must": [{"key": "a", "match": {"any": "a"}}]}, "must[0].match.any: match.any must be"),
    # keys Python calls digits that int() cannot read: a 500 at any depth
    ({"\u00b2": 1}, "\u00b2: Extra inputs are not permitted"),
    ({"must": [{"key": "a", "match": {"value": 1, "\u2460": 1}}]}, "must[0].match.\u2460: Extra"),
]


@pytest.mark.parametrize(("raw", "message"), KEPT + NEW)
def test_filter_error_message(raw: Any, message: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(raw)
    text = str(caught.value)
    assert text.startswith(f"invalid filter at {message}"), text
    # no pydantic union member or tag in the location
    location = text.removeprefix("invalid filter at ").split(":")[0]
    bare = re.sub(r"\[\d+\]", "", location).replace("[]", "")  # list places are [n]
    assert "[" not in bare and "Condition" not in location, text


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ({"must": [{"nested": {"key": "a", "filter": {}}}]}, "must[0].nested: nested"),
        ({"must": [{"has_vector": "image"}]}, "must[0].has_vector: has_vector conditions are not"),
        ({"should": [{"key": "g", "geo_radius": {}}]}, "should[0].geo_radius: geo conditions"),
        (
            {"min_should": {"conditions": [{"nested": {}}], "min_count": 1}},
            "min_should.conditions[0].nested: nested",
        ),
    ],
)
def test_qdrant_syntax_not_served_is_named(raw: Any, said: str) -> None:
    """They read "must[0].key: Field required" or "a valid integer"."""
    with pytest.raises(InvalidFilter, match=f"invalid filter at {re.escape(said)}"):
        parse_filter(raw)


def test_null_fields_are_absent_as_qdrant_reads_them() -> None:
    """Clients that send every field of Qdrant's FieldCondition (`"values_count": null` beside
    a `match`) were refused, the error blamed on `match`."""
    sent = {
        "must": [
            {"key": "a", "match": {"value": 1}, "range": None, "values_count": None},
            {"key": "b", "match": None, "range": {"gt": 1, "lt": None}, "geo_radius": None},
        ],
        "should": None,
    }
    same = {"must": [{"key": "a", "match": {"value": 1}}, {"key": "b", "range": {"gt": 1}}]}
    assert parse_filter(sent) == parse_filter(same)

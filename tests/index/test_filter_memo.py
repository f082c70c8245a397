"""The process-wide memo of parsed filters: a repeated filter skips validation, and nothing that
validates differently shares an entry (True and 1, 1.0 and 1, NaN and null, bad and good)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from index import filters
from index.errors import InvalidFilter
from index.filters import parse_filter
from index.plans import Matches


def _match(value: object) -> dict:
    return {"must": [{"key": "n", "match": {"value": value}}]}


def test_a_repeated_filter_is_validated_once() -> None:
    first = parse_filter(_match(7))
    assert parse_filter(_match(7)) is first
    assert first is not None and first.cache_key == repr(first)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (_match(1), _match(True)),
        (
            {"must": [{"key": "n", "range": {"gte": 1}}]},
            {"must": [{"key": "n", "range": {"gte": 1.0}}]},
        ),
        (
            {"must": [{"key": "n", "range": {"gte": 1}}]},
            {"must": [{"key": "n", "range": {"gte": 2}}]},
        ),
    ],
)
def test_filters_that_validate_apart_do_not_share_an_entry(one: dict, other: dict) -> None:
    a, b = parse_filter(one), parse_filter(other)
    assert a is not b and repr(a) != repr(b)
    assert parse_filter(one) is a and parse_filter(other) is b


def test_a_refused_filter_is_refused_every_time_and_its_valid_twin_still_parses() -> None:
    nan = {"must": [{"key": "n", "range": {"gte": math.nan, "lt": 5}}]}
    none = {"must": [{"key": "n", "range": {"gte": None, "lt": 5}}]}
    for _ in range(2):
        with pytest.raises(InvalidFilter):
            parse_filter(nan)
    assert parse_filter(none) is not None
    with pytest.raises(InvalidFilter):
        parse_filter(nan)


def test_the_memo_stays_bounded() -> None:
    for i in range(filters.PARSED_KEPT * 2 + 5):
        parse_filter(_match(i))
    assert len(filters._parsed) <= filters.PARSED_KEPT
    long = {"must": [{"has_id": [str(i) for i in range(2000)]}]}
    assert parse_filter(long) is not parse_filter(long)  # too long to keep


def test_membership_reads_false_for_padding_and_labels_past_the_last_match() -> None:
    matches = Matches(np.array([0, 3, 5], np.int64))
    found = np.array([[-1, 0, 1, 3, 5, 6, 7, 10**9]], np.int64)
    assert matches.contains(found).tolist() == [
        [False, True, False, True, True, False, False, False]
    ]
    empty = Matches(np.empty(0, np.int64))
    assert not empty.contains(found).any()

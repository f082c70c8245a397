"""Hostile keys and values in Milvus filter expressions: hashed or checked, never spliced."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import milvus_lite_uri

from index import Catalog, CollectionConfig
from index.backends.milvus_filter import Widths, _number, to_expression
from index.errors import InvalidFilter
from index.filter_model import Range
from index.filters import parse_filter

pytest.importorskip("pymilvus")

HOSTILE_KEYS = [
    "a' || char(34)) WHERE 1) OR 1=1) --",
    "x'] or true or terms['m",
    "k\\",
    "tags') or (1==1",
    "日本.é",
    "; drop",
    "a.b",
]
HOSTILE_VALUES = ['" or true or "', "'; --", "\\", 'x\\"', "日本"]
# what an expression may contain besides hex digests: field paths, operators, numbers
EXPRESSION = re.compile(
    r"^(?:\s|[()\[\],]|and|or|not|exists|true|false|json_contains(?:_any)?|terms"
    r'|"[0-9a-f]{20}"|"[men]"|\d+|[<>!=]=?|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)*$'
)


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_expression_holds_no_user_text(key: str) -> None:
    flt = parse_filter(
        {
            "must": [{"key": key, "match": {"value": v}} for v in HOSTILE_VALUES],
            "should": [
                {"key": key, "match": {"any": HOSTILE_VALUES}},
                {"key": key, "match": {"except": HOSTILE_VALUES}},
                {"key": key, "range": {"gt": -1.5, "lte": 10**18}},
            ],
            "must_not": [{"must": [{"key": key, "match": {"value": True}}]}],
        }
    )
    assert flt is not None
    expr = to_expression(flt, Widths(distinct=3, numbers=2))
    assert EXPRESSION.fullmatch(expr), expr
    for text in [key, *HOSTILE_VALUES]:
        assert text not in expr


def test_a_key_the_filter_model_refuses_is_still_only_hashed() -> None:
    flt = parse_filter({"must": [{"key": "a", "match": {"value": 1}}]})
    assert flt is not None
    flt.must[0].key = 'x"] or true or terms["m'  # type: ignore[index,union-attr]
    assert EXPRESSION.fullmatch(to_expression(flt, Widths()))


def test_only_finite_numbers_are_written_out() -> None:
    assert _number(3) == "3" and _number(-0.25) == "-0.25"
    for bad in (float("nan"), float("inf"), True, "1 or true"):
        with pytest.raises(ValueError, match="finite"):
            _number(bad)
    # a bound that skipped validation still cannot reach the expression text
    rng = Range.model_construct(gt="1 or true", gte=None, lt=None, lte=None)
    flt = parse_filter({"must": [{"key": "a", "range": {"gt": 0}}]})
    assert flt is not None
    flt.must[0].range = rng  # type: ignore[index,union-attr]
    with pytest.raises(ValueError, match="finite"):
        to_expression(flt, Widths(distinct=1, numbers=1))


def test_hostile_keys_roundtrip_through_milvus_lite(tmp_path: Path) -> None:
    defaults = {"milvus": {"uri": milvus_lite_uri()}}
    col = Catalog(tmp_path, defaults).create(CollectionConfig("h", 4, index_type="milvus"))
    payloads: list[dict[str, Any]] = [
        {HOSTILE_KEYS[0]: 1, "n": [1, 5]},
        {HOSTILE_KEYS[1]: HOSTILE_VALUES[0], "n": 2},
        {"k\\": [HOSTILE_VALUES[1], "z"], "日本": {"é": 3}},
        {"a": {"b": 4}, "n": None},
        {"other": 1},
    ]
    vectors = np.random.default_rng(0).normal(size=(len(payloads), 4)).astype(np.float32)
    col.upsert([f"p{i}" for i in range(len(payloads))], vectors, payloads)
    cases = [
        ({"must": [{"key": HOSTILE_KEYS[0], "match": {"value": 1}}]}, {"p0"}),
        ({"must": [{"key": HOSTILE_KEYS[1], "match": {"any": HOSTILE_VALUES}}]}, {"p1"}),
        ({"must": [{"key": "k\\", "match": {"except": [HOSTILE_VALUES[1]]}}]}, {"p2"}),
        ({"must": [{"key": "日本.é", "range": {"gte": 3}}]}, {"p2"}),
        ({"must": [{"key": "a.b", "range": {"gt": 3.5}}]}, {"p3"}),
        ({"must_not": [{"key": HOSTILE_KEYS[0], "match": {"value": 1}}]}, {"p1", "p2", "p3", "p4"}),
        ({"must": [{"key": "n", "range": {"gte": 2, "lt": 5}}]}, {"p1"}),
    ]
    try:
        for flt, expected in cases:
            hits = col.search(vectors[:1], len(payloads), filter=flt)[0]
            assert {h.id for h in hits} == expected, flt
    finally:
        col.close()


@pytest.mark.parametrize(
    "raw",
    [
        {"must": [{"has_id": ["a"]}]},
        {"must": [{"is_empty": {"key": "tags"}}]},
        {"must": [{"key": "a[].b", "match": {"value": 1}}]},
    ],
)
def test_conditions_without_an_expression_are_refused_by_name(raw: dict) -> None:
    """SQLite-only conditions get a 4xx error naming them, never an assert (a 500)."""
    with pytest.raises(InvalidFilter, match="milvus backend cannot evaluate"):
        to_expression(parse_filter(raw), Widths())

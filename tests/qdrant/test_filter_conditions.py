"""Qdrant's further filter conditions through the native v1 API: has_id, is_empty, is_null,
values_count, match.text and min_should, answered the same with and without payload indexes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import assert_error

PAYLOADS: dict[str, dict[str, Any]] = {
    "1": {"tags": ["a", "b"], "note": None, "city": "Berlin", "n": 1},
    "2": {"tags": [], "city": "Bern", "n": 2},
    "3": {"tags": "a", "note": "x", "city": "Paris", "n": 3},
    "u": {"note": [None], "city": ["Oslo", "Bergen"], "n": 4},
    "5": {"tags": [None], "city": {"name": "Berlin"}, "n": 5},
}
CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"must": [{"has_id": [1, "u", "missing"]}]}, {"1", "u"}),
    ({"must_not": [{"has_id": ["3"]}]}, {"1", "2", "u", "5"}),
    ({"must": [{"is_empty": {"key": "tags"}}]}, {"2", "u"}),
    # null, or an array holding a null: Qdrant's server since 1.19.1 (qdrant#10101)
    ({"must": [{"is_null": {"key": "note"}}]}, {"1", "u"}),
    ({"must": [{"key": "tags", "values_count": {"gte": 1}}]}, {"1", "3", "5"}),
    ({"must": [{"key": "tags", "values_count": {"gt": 1, "lte": 2}}]}, {"1"}),
    ({"must": [{"key": "city", "match": {"text": "berlin"}}]}, {"1"}),  # words, any case
    ({"must": [{"key": "city", "match": {"text": "Ber"}}]}, set()),  # not a word of any city
    ({"must": [{"key": "city", "match": {"text": ""}}]}, set()),  # no word: holds for nothing
    ({"must": {"key": "city", "match": {"text": "BERGEN"}}}, {"u"}),  # a single condition
    (
        {
            "min_should": {
                "conditions": [
                    {"key": "n", "range": {"lte": 2}},
                    {"key": "city", "match": {"any": ["Bern", "Paris"]}},
                    {"has_id": [2, 3]},
                ],
                "min_count": 2,
            }
        },
        {"2", "3"},
    ),
    (
        {
            "should": [{"is_empty": {"key": "tags"}}, {"is_null": {"key": "note"}}],
            "must_not": [{"min_should": {"conditions": [{"has_id": [2]}], "min_count": 1}}],
        },
        {"1", "u"},
    ),
]


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client()
    assert client.post("/v1/collections", json={"name": "f", "dim": 2}).status_code == 201
    points = [
        {"id": pid, "vector": [1.0, float(i)], "payload": payload}
        for i, (pid, payload) in enumerate(PAYLOADS.items())
    ]
    assert client.put("/v1/collections/f/points", json={"points": points}).status_code == 200
    return client


def _answers(client: TestClient, flt: dict[str, Any]) -> tuple[set[str], int]:
    """The ids a filtered search finds, and the filtered count."""
    search = client.post(
        "/v1/collections/f/search", json={"query": {"vector": [1.0, 0.0]}, "k": 10, "filter": flt}
    )
    assert search.status_code == 200, search.text
    count = client.post("/v1/collections/f/count", json={"filter": flt}).json()["count"]
    return {h["id"] for h in search.json()["results"]}, count


@pytest.mark.parametrize(("flt", "expected"), CASES)
def test_condition_through_v1(client: TestClient, flt: dict[str, Any], expected: set[str]) -> None:
    ids, count = _answers(client, flt)
    assert ids == expected and count == len(expected)
    # declared payload indexes on every key the conditions name change nothing
    for key, schema in (("city", "keyword"), ("n", "integer"), ("tags", "keyword")):
        body = {"field_name": key, "field_schema": schema}
        assert client.put("/v1/collections/f/payload_index", json=body).status_code == 200
    assert _answers(client, flt)[0] == expected
    # and deleting by the filter removes exactly those points
    r = client.request("DELETE", "/v1/collections/f/points", json={"filter": flt})
    assert r.json() == {"deleted": len(expected)}


NESTED: dict[str, dict[str, Any]] = {
    "de": {"country": {"cities": [{"name": "Berlin", "pop": 3.7}, {"name": "Bonn", "pop": 0.3}]}},
    "fr": {"country": {"cities": [{"name": "Paris", "pop": 2.1, "sights": ["tower"]}]}},
    "flat": {"country": {"cities": "Berlin"}, "grid": [[1, 2], [3]]},
}
NESTED_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"key": "country.cities[].name", "match": {"value": "Berlin"}}, {"de"}),
    ({"key": "country.cities[].pop", "range": {"gt": 1.0}}, {"de", "fr"}),
    ({"key": "country.cities[].name", "match": {"except": ["Berlin"]}}, {"de", "fr"}),
    ({"key": "country.cities[].sights", "match": {"any": ["tower"]}}, {"fr"}),
    ({"key": "country.cities[].name", "match": {"text": "bonn"}}, {"de"}),
    ({"key": "country.cities[]", "match": {"value": "Berlin"}}, set()),  # not an array: no value
    ({"key": "grid[][]", "match": {"value": 3}}, {"flat"}),
]


@pytest.mark.parametrize(("condition", "expected"), NESTED_CASES)
def test_nested_array_keys(
    make_client: Callable[..., TestClient], condition: dict[str, Any], expected: set[str]
) -> None:
    client = make_client()
    assert client.post("/v1/collections", json={"name": "n", "dim": 2}).status_code == 201
    points = [{"id": k, "vector": [1.0, 0.0], "payload": p} for k, p in NESTED.items()]
    assert client.put("/v1/collections/n/points", json={"points": points}).status_code == 200
    for clause in ("must", "must_not"):
        r = client.post(
            "/v1/collections/n/search",
            json={"query": {"vector": [1.0, 0.0]}, "k": 10, "filter": {clause: [condition]}},
        )
        found = {h["id"] for h in r.json()["results"]}
        assert found == (expected if clause == "must" else set(NESTED) - expected)


@pytest.mark.parametrize(
    ("flt", "where"),
    [
        ({"must": [{"has_id": "1"}]}, "must[0].has_id"),
        ({"must": [{"has_id": [-1]}]}, "must[0].has_id[0]"),
        ({"must": [{"is_empty": {}}]}, "must[0].is_empty.key"),
        ({"must": [{"is_null": {"key": ""}}]}, "must[0].is_null.key"),
        ({"must": [{"key": "n", "values_count": {}}]}, "must[0].values_count"),
        ({"must": [{"key": "n", "values_count": {"gt": 1.5}}]}, "must[0].values_count.gt"),
        ({"min_should": {"conditions": [], "min_count": -1}}, "min_should.min_count"),
        ({"min_should": {"min_count": 1}}, "min_should.conditions"),
        ({"must": [{"key": "a[]b", "match": {"value": 1}}]}, "must[0].key"),
        ({"must": [{"key": "[].a", "match": {"value": 1}}]}, "must[0].key"),
        ({"must": [{"is_empty": {"key": "a[]"}}]}, "must[0].is_empty.key"),
        ({"must": [{"key": "ai[0]", "match": {"value": 1}}]}, "must[0].key"),  # matched nothing
        ({"must_not": [{"key": "a[].b[1]", "range": {"gt": 1}}]}, "must_not[0].key"),
        ({"must": [{"is_null": {"key": "a.b[12]"}}]}, "must[0].is_null.key"),
    ],
)
def test_bad_condition_names_its_place(client: TestClient, flt: dict[str, Any], where: str) -> None:
    r = client.post("/v1/collections/f/count", json={"filter": flt})
    assert_error(r, 422, "invalid_filter", "filter")
    assert f"invalid filter at {where}:" in r.json()["message"], r.json()

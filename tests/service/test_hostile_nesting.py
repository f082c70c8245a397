"""Deeply nested input is a 4xx naming what is wrong, never a recursion error or a SQLite parser
overflow (both were 500s)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from index.filters import MAX_FILTER_DEPTH
from index.stored_point import MAX_PAYLOAD_DEPTH

JSON = {"content-type": "application/json"}


def _nested_filter(levels: int) -> str:
    return '{"must": [' * levels + '{"key": "n", "match": {"value": 1}}' + "]}" * levels


@pytest.fixture
def collection(client: TestClient) -> TestClient:
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": "a", "vector": [1, 0], "payload": {"n": 1}}]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    return client


def test_filters_nested_past_the_limit_are_refused(collection: TestClient) -> None:
    fits = (MAX_FILTER_DEPTH - 2) // 2  # each nested filter is an object and a list
    for levels, status in ((fits, 200), (fits + 1, 422), (100, 422), (400, 422)):
        flt = _nested_filter(levels)
        body = '{"query": {"vector": [1, 0]}, "filter": ' + flt + "}"
        for path, sent in (("search", body), ("count", '{"filter": ' + flt + "}")):
            answer = collection.post(f"/v1/collections/v/{path}", content=sent, headers=JSON)
            assert answer.status_code == status, (levels, path, answer.text)
        if status == 200:
            hits = collection.post("/v1/collections/v/search", content=body, headers=JSON)
            assert [h["id"] for h in hits.json()["results"]] == ["a"]
        else:
            assert answer.json()["code"] == "invalid_filter"


@pytest.mark.parametrize("nan", ["", ', "nan": NaN'])  # orjson, then the standard parser
def test_bodies_nested_past_json_readers_are_invalid_json(collection: TestClient, nan: str) -> None:
    body = '{"query": {"vector": [1, 0]}' + nan + ', "filter": ' + "[" * 5000 + "]" * 5000 + "}"
    answer = collection.post("/v1/collections/v/search", content=body, headers=JSON)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_json"


def test_payloads_nested_past_the_limit_are_refused_and_nothing_is_stored(
    collection: TestClient,
) -> None:
    deep = [1]
    for _ in range(MAX_PAYLOAD_DEPTH - 2):
        deep = [deep]
    fits = {"x": deep}  # MAX_PAYLOAD_DEPTH levels with the outer object
    points = [{"id": "b", "vector": [0, 1], "payload": fits}]
    assert collection.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    got = collection.get("/v1/collections/v/points", params={"ids": "b"})
    assert json.loads(got.text)["points"][0]["payload"] == fits
    points = [{"id": "c", "vector": [0, 1]}, {"id": "d", "vector": [0, 1], "payload": {"y": fits}}]
    answer = collection.put("/v1/collections/v/points", json={"points": points})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_payload"
    assert collection.get("/v1/collections/v").json()["count"] == 2

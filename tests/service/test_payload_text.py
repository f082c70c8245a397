"""Payloads are stored as JSON text and spliced into answers unparsed: what JSON cannot carry is
refused on write (nothing of the batch stored), and what it can comes back exactly."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

JSON = {"content-type": "application/json"}


def _collection(client: TestClient) -> None:
    spec = {"name": "p", "dim": 2, "index": {"type": "hnsw"}}
    assert client.post("/v1/collections", json=spec).status_code == 201


@pytest.mark.parametrize(
    "payload_text",
    [
        '{"x": NaN}',
        '{"x": [1, Infinity]}',
        '{"x": -Infinity}',
        '{"\\ud800": 1}',
        '{"x": "\\udc00"}',
    ],
)
def test_payloads_json_cannot_carry_are_refused_and_nothing_is_stored(
    client: TestClient, payload_text: str
) -> None:
    _collection(client)
    body = (
        '{"points": [{"id": "ok", "vector": [1, 0], "payload": {}},'
        f' {{"id": "bad", "vector": [0, 1], "payload": {payload_text}}}]}}'
    )
    answer = client.put("/v1/collections/p/points", content=body, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_payload" and "'bad'" in answer.json()["message"]
    assert client.get("/v1/collections/p").json()["count"] == 0


def test_payloads_come_back_exactly_from_search_get_and_recommend(client: TestClient) -> None:
    _collection(client)
    payload = {
        "big": 2**64 - 1,  # the largest integer orjson reads as one (past it: a float, as Qdrant)
        "text": "caf\u00e9 \U0001f600 \x7f \u2028",
        "\u00e9t\u00e9": {"nested": [1, 2.5, None, True, "\\"]},
        "neg": -0.0,
    }
    points = '[{"id": "a", "vector": [1, 0], "payload": %s}, {"id": "b", "vector": [1, 1]}]'
    body = '{"points": %s}' % (points % json.dumps(payload))
    assert client.put("/v1/collections/p/points", content=body, headers=JSON).status_code == 200
    hit = client.post("/v1/collections/p/search", json={"query": {"vector": [1, 0]}, "k": 1})
    assert json.loads(hit.text)["results"][0]["payload"] == payload
    got = client.get("/v1/collections/p/points", params={"ids": "a"})
    assert json.loads(got.text)["points"][0]["payload"] == payload
    rec = client.post("/v1/collections/p/recommend", json={"positive": ["b"], "k": 1})
    assert json.loads(rec.text)["results"][0]["payload"] == payload
    # filters read the same stored text: the non-ASCII key still matches
    flt = {"must": [{"key": "\u00e9t\u00e9.nested[]", "match": {"value": 1}}]}
    found = client.post(
        "/v1/collections/p/search", json={"query": {"vector": [0, 1]}, "filter": flt}
    ).json()["results"]
    assert [h["id"] for h in found] == ["a"]

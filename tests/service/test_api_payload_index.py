"""Payload indexes over REST: declared at creation or with PUT, dropped with DELETE, shown by GET,
and filtered searches, counts and deletes that answer exactly as an unindexed twin does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from support import assert_error

DIM = 8
N = 3000  # the 80% filter keeps more than EXACT_FILTER_LIMIT points: the ANN path is used too
RNG = np.random.default_rng(18)
VECTORS = RNG.normal(size=(N, DIM)).astype(np.float32)
POINTS = [
    {
        "id": f"p{i}",
        "vector": VECTORS[i].tolist(),
        "payload": {
            "group": "rare" if i % 100 == 0 else ("wide" if i % 5 else "mid"),
            "n": i if i % 7 else float(i),  # some numbers are reals: an integer match skips them
            "flag": [True, 1, "1"][i % 3],
            "tags": [f"t{i % 4}", f"t{i % 6}"],
            **({"meta": {"score": i % 10}} if i % 2 else {}),
        },
    }
    for i in range(N)
]
FILTERS: list[dict[str, Any]] = [
    {"must": [{"key": "group", "match": {"value": "rare"}}]},
    {"must": [{"key": "group", "match": {"value": "wide"}}]},
    {"must_not": [{"key": "group", "match": {"any": ["rare", "mid"]}}]},
    {"must": [{"key": "n", "match": {"value": 14}}]},  # stored as 14.0: no point matches
    {"must": [{"key": "n", "range": {"gte": 100, "lt": 400}}]},
    {
        "should": [
            {"key": "flag", "match": {"value": True}},
            {"key": "tags", "match": {"value": "t5"}},
        ]
    },
    {
        "must": [
            {"key": "meta.score", "range": {"gt": 7}},
            {"key": "tags", "match": {"except": ["t0"]}},
        ]
    },
    {"must": [{"must_not": [{"key": "meta.score", "match": {"value": 3}}]}]},
    {
        "must": [
            {"key": "group", "match": {"value": "mid"}},
            {"key": "unindexed", "match": {"value": 1}},
        ]
    },
]
INDEXES = {"group": "keyword", "n": "integer", "flag": "bool", "tags": "keyword"}


def _make(client: TestClient, name: str, indexes: dict[str, str] | None = None) -> None:
    body: dict[str, Any] = {"name": name, "dim": DIM, "index": {"type": "flat"}}
    if indexes is not None:
        body["payload_indexes"] = indexes
    assert client.post("/v1/collections", json=body).status_code == 201
    for start in range(0, N, 1000):
        batch = {"points": POINTS[start : start + 1000]}
        assert client.put(f"/v1/collections/{name}/points", json=batch).status_code == 200


def _answers(client: TestClient, name: str, flt: dict[str, Any]) -> tuple[Any, Any]:
    query = {"vector": VECTORS[3].tolist()}
    search = {"query": query, "k": 25, "filter": flt, "with_payload": False}
    hits = client.post(f"/v1/collections/{name}/search", json=search)
    count = client.post(f"/v1/collections/{name}/count", json={"filter": flt})
    assert hits.status_code == count.status_code == 200, (hits.text, count.text)
    return hits.json()["results"], count.json()["count"]


def test_indexed_collection_answers_as_its_unindexed_twin(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    _make(client, "idx", {"group": "keyword", "n": "integer"})
    _make(client, "plain")
    for key in ("flag", "tags"):
        r = client.put("/v1/collections/idx/payload_index", json=_body(key, INDEXES[key]))
        assert r.json() == _body(key, INDEXES[key])
    r = client.put("/v1/collections/idx/payload_index", json=_body("meta.score", "float"))
    assert r.status_code == 200
    indexes = {**INDEXES, "meta.score": "float"}
    assert client.get("/v1/collections/idx").json()["payload_indexes"] == indexes
    assert client.get("/v1/collections/plain").json()["payload_indexes"] == {}
    for flt in FILTERS:
        assert _answers(client, "idx", flt) == _answers(client, "plain", flt), flt
    assert _answers(client, "idx", FILTERS[1])[1] == 2400  # the wide one takes the ANN path

    # deletes by filter and a restart: the rebuilt index still answers as the twin does
    gone = {"filter": {"must": [{"key": "n", "range": {"lt": 500}}]}}
    for name in ("idx", "plain"):
        r = client.request("DELETE", f"/v1/collections/{name}/points", json=gone)
        assert r.json() == {"deleted": 500}  # reals fall in ranges too
    client.__exit__(None, None, None)
    client = make_client()
    assert client.get("/v1/collections/idx").json()["payload_indexes"] == indexes
    for flt in FILTERS:
        assert _answers(client, "idx", flt) == _answers(client, "plain", flt), flt

    r = client.delete("/v1/collections/idx/payload_index/meta.score")
    assert r.status_code == 200 and r.json() == {"field_name": "meta.score", "deleted": True}
    assert client.get("/v1/collections/idx").json()["payload_indexes"] == INDEXES
    assert _answers(client, "idx", FILTERS[6]) == _answers(client, "plain", FILTERS[6])
    r = client.delete("/v1/collections/idx/payload_index/meta.score")
    assert_error(r, 404, "payload_index_not_found", "field_name")


def test_payload_index_errors(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "c", "dim": DIM}).status_code == 201
    url = "/v1/collections/c/payload_index"
    assert_error(client.put(url, json=_body("a", "text")), 422, "invalid_collection_config")
    assert client.put(url, json=_body("a", "text")).json()["field"] == "field_schema"
    assert_error(client.put(url, json=_body("", "keyword")), 422, "invalid_collection_config")
    assert_error(client.put(url, json=_body('a"b', "keyword")), 422, "invalid_collection_config")
    assert_error(client.put(url, json={"field_name": "a"}), 422, "validation_error")
    assert_error(client.delete(url + "/nope"), 404, "payload_index_not_found", "field_name")
    missing = "/v1/collections/nosuch/payload_index"
    assert_error(client.put(missing, json=_body("a", "bool")), 404, "collection_not_found")
    assert_error(client.delete(missing + "/a"), 404, "collection_not_found")
    # a key with a slash or a dot round-trips through the path
    assert client.put(url, json=_body("a/b.c", "bool")).status_code == 200
    assert client.delete(url + "/a%2Fb.c").json() == {"field_name": "a/b.c", "deleted": True}
    # a bad declaration at creation leaves no collection behind
    body = {"name": "d", "dim": DIM, "payload_indexes": {"group": "text"}}
    r = client.post("/v1/collections", json=body)
    assert_error(r, 422, "invalid_collection_config", "payload_indexes.group")
    assert_error(client.get("/v1/collections/d"), 404, "collection_not_found")


def _body(key: str, schema: str) -> dict[str, str]:
    return {"field_name": key, "field_schema": schema}

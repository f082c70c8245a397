"""A payload index cannot be declared on a `[]` key: it keeps one value list per point at a
dotted path, so it would answer `a[].b` filters unlike SQLite does."""

from __future__ import annotations

from fastapi.testclient import TestClient
from support import assert_error


def test_payload_index_on_array_key_is_refused(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "c", "dim": 4}).status_code == 201
    url = "/v1/collections/c/payload_index"
    for key in ("a[].b", "a[]", "tags[]"):
        body = {"field_name": key, "field_schema": "keyword"}
        r = client.put(url, json=body)
        assert_error(r, 422, "invalid_collection_config", "field_name")
        assert "[]" in r.json()["message"]
    assert client.get("/v1/collections/c").json()["payload_indexes"] == {}
    # at creation too (a bad key is named by the field it sits in); no collection is left behind
    body = {"name": "d", "dim": 4, "payload_indexes": {"a[].b": "keyword"}}
    r = client.post("/v1/collections", json=body)
    assert_error(r, 422, "invalid_collection_config", "payload_indexes")
    assert_error(client.get("/v1/collections/d"), 404, "collection_not_found")
    # a plain dotted key is still accepted
    ok = client.put(url, json={"field_name": "a.b", "field_schema": "keyword"})
    assert ok.status_code == 200

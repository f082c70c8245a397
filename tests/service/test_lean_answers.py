"""Search answers skip response-model validation but keep the declared shape and schema."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.schemas.search import BatchSearchResponse, SearchResponse


def test_search_answers_keep_their_declared_shape(client: TestClient) -> None:
    spec = {"name": "lean", "dim": 3, "metric": "cosine", "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=spec).status_code == 201
    points = [{"id": f"p{i}", "vector": [1, i, 0], "payload": {"i": i}} for i in range(5)]
    assert client.put("/v1/collections/lean/points", json={"points": points}).status_code == 200
    query = {"query": {"vector": [1, 0, 0]}, "k": 2}
    plain = client.post("/v1/collections/lean/search", json=query)
    assert plain.headers["content-type"] == "application/json"
    body = plain.json()
    assert body == SearchResponse.model_validate(body).model_dump(exclude_unset=True)
    assert [h["id"] for h in body["results"]] == ["p0", "p1"]
    assert body["results"][0] == {"id": "p0", "score": 1.0, "payload": {"i": 0}}
    lean = client.post(
        "/v1/collections/lean/search",
        json={**query, "with_payload": False, "with_vector": True},
    ).json()
    assert lean["results"][1] == {
        "id": "p1",
        "score": body["results"][1]["score"],
        "vector": lean["results"][1]["vector"],
    }
    assert len(lean["results"][1]["vector"]) == 3
    batch = client.post("/v1/collections/lean/search/batch", json={"searches": [query, query]})
    assert BatchSearchResponse.model_validate(batch.json()).results[1][0].id == "p0"
    schema = client.get("/openapi.json").json()["paths"]
    answer = schema["/v1/collections/{name}/search"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/SearchResponse")

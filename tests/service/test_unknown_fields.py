"""Unknown request fields are 422s that name them, on every route with a JSON body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import assert_error, refusal_status

UNKNOWN = "nestvec_unknown_field"
VEC = [1.0, 0.0, 0.0, 0.0]
# A minimal valid body for each route with a JSON body, so that the unknown field is the only
# thing wrong with the request.
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/embed"): {"encoder": "minilm", "inputs": ["hi"]},
    ("POST", "/v1/embeddings"): {"input": "hi", "model": "minilm"},
    ("POST", "/v1/collections"): {"name": "other", "dim": 4},
    ("POST", "/v1/collections/{name}/count"): {"filter": None},
    ("PUT", "/v1/collections/{name}/points"): {"points": [{"id": "a", "vector": VEC}]},
    ("DELETE", "/v1/collections/{name}/points"): {"ids": ["a"]},
    ("POST", "/v1/collections/{name}/search"): {"query": {"vector": VEC}},
    ("POST", "/v1/collections/{name}/search/batch"): {"searches": [{"query": {"vector": VEC}}]},
    ("POST", "/v1/collections/{name}/analysis/intrinsic-dimension"): {"sample": 100},
    ("POST", "/v1/collections/{name}/analysis/insertion-order"): {"k": 5},
    ("POST", "/v1/collections/{name}/analysis/recall"): {"k": 5},
    ("POST", "/v1/collections/{name}/analysis/funnel"): {"k": 5},
    ("POST", "/v1/collections/{name}/rebuild"): {"seed": 0},
    ("PUT", "/v1/collections/{name}/payload_index"): {"field_name": "a", "field_schema": "bool"},
    ("POST", "/v1/faces/verify"): {
        "a": {"collection": "c", "id": "x"},
        "b": {"collection": "c", "id": "y"},
    },
    ("POST", "/v1/collections/{name}/recommend"): {"positive": ["a"]},
    ("POST", "/v1/rank"): {"query": "q", "documents": ["d"], "model": "minilm"},
    ("POST", "/rerank"): {"query": "q", "texts": ["t"]},
    ("POST", "/v1/rerank"): {"query": "q", "documents": ["d"], "model": "minilm"},
    ("POST", "/v2/rerank"): {"query": "q", "documents": ["d"], "model": "minilm"},
    ("POST", "/embed"): {"inputs": "hi"},
    ("POST", "/"): {"inputs": "hi"},
    ("POST", "/v2/embed"): {"model": "minilm", "texts": ["hi"]},
}
# Nested request objects: the unknown field one level down is named by its full path.
NESTED = [
    ("POST", "/v1/collections/{name}/search", {"query": {"vector": VEC, "txt": "x"}}, "query.txt"),
    (
        "POST",
        "/v1/collections/{name}/search",
        {"query": {"vector": VEC}, "funnel": {"dims": [2], "dimz": 1}},
        "funnel.dimz",
    ),
    (
        "POST",
        "/v1/collections/{name}/search/batch",
        {"searches": [{"query": {"vector": VEC}, "fliter": {}}]},
        "searches[0].fliter",
    ),
    (
        "PUT",
        "/v1/collections/{name}/points",
        {"points": [{"id": "a", "vector": VEC, "paylod": {}}]},
        "points[0].paylod",
    ),
    ("POST", "/v1/collections", {"name": "o", "dim": 4, "index": {"prams": {}}}, "index.prams"),
    (
        "POST",
        "/v1/collections/{name}/recommend",
        {"history": [{"id": "a", "ts": 1}]},
        "history[0].ts",
    ),
    (
        "POST",
        "/v1/faces/verify",
        {"a": {"collection": "c", "id": "x", "jitters": 1}, "b": {"collection": "c", "id": "y"}},
        "a.jitters",
    ),
]


def _spec(client: TestClient) -> dict[str, Any]:
    return client.app.openapi()  # type: ignore[attr-defined,no-any-return]


# TEI's and Cohere v2's paths outside /v1
TOP = ("/", "/rerank", "/embed", "/v2/rerank", "/v2/embed")


def _json_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every route whose request body is JSON, from the OpenAPI document."""
    return {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    }


@pytest.fixture
def api(client: TestClient) -> TestClient:
    body = {"name": "c", "dim": 4, "metric": "cosine", "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    return client


def _send(client: TestClient, method: str, path: str, body: dict[str, Any]) -> Any:
    return client.request(method, path.replace("{name}", "c"), json=body)


def test_every_json_route_is_covered(client: TestClient) -> None:
    # a new route with a JSON body must be added to VALID, and so gets the check below; the
    # Qdrant-compatible routes answer in Qdrant's shape and are covered by tests/qdrant/
    native = {(m, p) for m, p in _json_routes(_spec(client)) if p.startswith("/v1/") or p in TOP}
    assert native == set(VALID)


def test_every_request_schema_forbids_extra_fields(client: TestClient) -> None:
    """Every object model reachable from a request body declares additionalProperties false."""
    spec = _spec(client)
    schemas = spec["components"]["schemas"]
    # free-form data, not options: Cohere document objects carry any fields (ranked by `text`)
    data_models = {"RankDocument"}
    seen: set[str] = set()
    lax: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                schema = schemas[name]
                if name not in data_models and schema.get("additionalProperties") is not False:
                    lax.append(name)
                walk(schema)
            return
        for value in node.values():
            walk(value)

    for ops in spec["paths"].values():
        for op in ops.values():
            walk(op.get("requestBody", {}).get("content", {}).get("application/json", {}))
    assert seen, "no request schemas found"
    assert not lax, f"request models accepting unknown fields: {lax}"


@pytest.mark.parametrize(("method", "path"), sorted(VALID))
def test_unknown_top_level_field_is_named(api: TestClient, method: str, path: str) -> None:
    r = _send(api, method, path, {**VALID[(method, path)], UNKNOWN: 1})
    assert_error(r, refusal_status(path), "validation_error", UNKNOWN)
    assert UNKNOWN in r.json()["message"]


@pytest.mark.parametrize(("method", "path", "body", "field"), NESTED)
def test_unknown_nested_field_is_named(
    api: TestClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    assert_error(_send(api, method, path, body), refusal_status(path), "validation_error", field)


def test_issue_typos_on_search_are_refused(api: TestClient) -> None:
    points = [
        {"id": str(i), "vector": [1.0, float(i), 0.0, 0.0], "payload": {"i": i}} for i in range(12)
    ]
    assert api.put("/v1/collections/c/points", json={"points": points}).status_code == 200
    query = {"vector": VEC}
    r = api.post("/v1/collections/c/search", json={"query": query, "fliter": {"must": []}})
    assert_error(r, 422, "validation_error", "fliter")
    r = api.post("/v1/collections/c/search", json={"query": query, "limit": 1})
    assert_error(r, 422, "validation_error", "limit")
    assert (
        len(api.post("/v1/collections/c/search", json={"query": query, "k": 1}).json()["results"])
        == 1
    )


def test_fields_other_apis_clients_send_are_accepted(
    make_client: Callable[..., TestClient],
) -> None:
    api = make_client(default_encoder="fake")  # TEI's /rerank embeds with the default
    # the OpenAI SDK sends `user` (and sets encoding_format itself); Cohere and TEI their knobs
    r = api.post(
        "/v1/embeddings",
        json={"input": ["hi"], "model": "fake", "encoding_format": "float", "user": "u-1"},
    )
    assert r.status_code == 200, r.text
    r = api.post(
        "/v1/rank",
        json={
            "query": "cats",
            "documents": ["cats purr", {"text": "dogs bark", "title": "dogs"}],
            "model": "fake",
            "top_n": 2,
            "return_documents": True,
            "max_chunks_per_doc": 10,
            "rank_fields": ["text"],
            "max_tokens_per_doc": 512,
            "raw_scores": False,
        },
    )
    assert r.status_code == 200, r.text
    assert [d["document"]["text"] for d in r.json()["results"]][0] == "cats purr"
    r = api.post(
        "/rerank",
        json={
            "query": "cats",
            "texts": ["cats purr", "dogs bark"],
            "raw_scores": False,
            "return_text": True,
            "truncate": True,
            "truncation_direction": "right",
        },
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("bad", [True, "0.5", None])
def test_vectors_hold_numbers_only(client: TestClient, bad: object) -> None:
    """JSON true and "0.5" were stored as 1.0 and 0.5."""
    client.post("/v1/collections", json={"name": "num", "dim": 2})
    point = {"id": "a", "vector": [bad, 1]}
    answer = client.put("/v1/collections/num/points", json={"points": [point]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "points[0].vector[0]", answer.json()
    query = {"query": {"vector": [1, bad]}, "k": 1}
    assert client.post("/v1/collections/num/search", json=query).status_code == 422
    assert client.get("/v1/collections/num").json()["count"] == 0


def _v1_operations(client: TestClient) -> list[tuple[str, str]]:
    spec = _spec(client)
    return sorted(
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/")
        for method in ops
    )


def test_unknown_query_parameters_are_named(api: TestClient) -> None:
    """`?limt=5` on a /v1 route is a 422 naming it, as an unknown body field is (it fell back to
    the default silently); declared parameters, probes and Qdrant's routes still take theirs."""
    operations = _v1_operations(api)
    assert len(operations) > 20
    for method, path in operations:
        url = path.replace("{name}", "c").replace("{filename}", "recall.png")
        url = url.replace("{model}", "minilm").replace("{field_name}", "a")
        assert "{" not in url, url
        r = api.request(method, f"{url}?{UNKNOWN}=5", json=VALID.get((method, path)))
        assert_error(r, refusal_status(path), "validation_error", f"query.{UNKNOWN}")
    api.put("/v1/collections/c/points", json={"points": [{"id": "a", "vector": VEC}]})
    got = api.get("/v1/collections/c/points", params={"ids": "a", "with_payload": False})
    assert got.status_code == 200 and [p["id"] for p in got.json()["points"]] == ["a"], got.text
    assert api.get("/v1/collections/c/points", params={"limt": 1}).json()["field"] == "query.limt"
    assert api.get("/healthz", params={"verbose": 1}).status_code == 200
    assert api.get("/collections/c", params={"wait": "true"}).status_code == 200

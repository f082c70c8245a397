"""The REST API through the real app: contract shapes and every 4xx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DOCS, assert_error, create_docs


def test_health_and_encoders(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    encoders = client.get("/v1/encoders").json()["encoders"]
    minilm = {"name": "minilm", "modality": "text", "dim": 384, "nested_dims": [384]}
    assert {**minilm, "available": True, "extra": None, "install": None} in encoders


def test_encoders_show_artifact_paths_inside_the_models_dir_only(client: TestClient) -> None:
    listed = {e["name"]: e for e in client.get("/v1/encoders").json()["encoders"]}
    paths = {n: e["artifact"]["path"] for n, e in listed.items() if e.get("artifact")}
    assert paths["graph-cora"] == "graph-cora"  # not the server's absolute data dir
    assert not [p for p in paths.values() if p and Path(p).is_absolute()], paths


def test_embed_contract(client: TestClient) -> None:
    r = client.post("/v1/embed", json={"encoder": "fake", "inputs": ["a", "b"], "dim": 32})
    body = r.json()
    assert body["encoder"] == "fake" and body["dim"] == 32
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_openai_embeddings_shape(client: TestClient) -> None:
    r = client.post("/v1/embeddings", json={"model": "fake", "input": ["hello", "world"]})
    body = r.json()
    assert body["object"] == "list" and body["model"] == "fake"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 64 for d in body["data"])
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}  # one word token each
    single = client.post("/v1/embeddings", json={"model": "fake", "input": "hello"}).json()
    np.testing.assert_allclose(
        single["data"][0]["embedding"], body["data"][0]["embedding"], atol=1e-5
    )
    # null is OpenAI's default for the optional fields (floats, full width), as absent is
    nulls = {"model": "fake", "input": "hello", "encoding_format": None, "dimensions": None}
    answer = client.post("/v1/embeddings", json=nulls)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["embedding"] == single["data"][0]["embedding"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    [
        ("/v1/embed", {"encoder": "nope", "inputs": ["a"]}, 404, "encoder_not_found", "encoder"),
        ("/v1/embed", {"encoder": "fake", "inputs": []}, 422, "empty_input", "inputs"),
        (
            "/v1/embed",
            {"encoder": "fake", "inputs": ["a"], "dim": 48},
            422,
            "invalid_dimension",
            "dim",
        ),
        ("/v1/embed", {"encoder": "fake", "inputs": [1]}, 422, "invalid_input", "inputs[0]"),
        ("/v1/embed", {"inputs": ["a"]}, 422, "validation_error", "encoder"),
        # OpenAI's route answers 400 where nestvec's answer 422, as OpenAI's server does
        ("/v1/embeddings", {"model": "fake", "input": []}, 400, "empty_input", None),
        (
            "/v1/embeddings",
            {"model": "fake", "input": "a", "dimensions": 8},
            400,
            "invalid_dimension",
            "dimensions",  # OpenAI's own name for it, not /v1/embed's `dim`
        ),
        ("/embed", {"inputs": "a", "dimensions": 8}, 422, "invalid_dimension", "dimensions"),
        (
            "/v1/embeddings",
            {"model": "fake", "input": [[1, 2]]},
            400,
            "unsupported_input",
            "input",
        ),
        ("/v1/embeddings", {"model": "gpt", "input": "a"}, 404, "encoder_not_found", None),
    ],
)
def test_embed_errors(
    client: TestClient, path: str, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    assert_error(client.post(path, json=body), status, code, field)


def test_cohere_v1_embed_body_is_pointed_to_v2(client: TestClient) -> None:
    """cohere.Client().embed posts to /v1/embed, nestvec's own path: it read "encoder: Field
    required", a field that client never heard of."""
    body = {"model": "minilm", "texts": ["a"], "input_type": "search_query"}
    r = client.post("/v1/embed", json=body)
    assert_error(r, 422, "validation_error")
    assert "/v2/embed" in r.json()["message"], r.json()


def test_batch_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_batch=3)
    r = client.post("/v1/embed", json={"encoder": "fake", "inputs": ["a"] * 4})
    assert_error(r, 422, "limit_exceeded", "inputs")
    r = client.post("/v1/embeddings", json={"model": "fake", "input": ["a"] * 4})
    assert_error(r, 400, "limit_exceeded", "input")


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post(
        "/v1/embed", content=b'{"encoder": ', headers={"content-type": "application/json"}
    )
    assert_error(r, 400, "invalid_json")


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_text_search_ranks_by_meaning(client: TestClient, index_type: str) -> None:
    create_docs(client, index_type)
    r = client.post("/v1/collections/docs/search", json={"query": {"text": "kitten"}, "k": 2})
    results = r.json()["results"]
    assert results[0]["id"] == "cat" and results[0]["payload"] == DOCS["cat"][1]
    assert results[0]["score"] > results[1]["score"]
    assert set(results[0]) == {"id", "score", "payload"}


def test_search_by_id_vector_filter_and_payload_flags(client: TestClient) -> None:
    create_docs(client)
    by_id = client.post("/v1/collections/docs/search", json={"query": {"id": "stocks"}, "k": 1})
    assert by_id.json()["results"][0]["id"] == "bonds"  # the query point itself is excluded
    vec = client.get("/v1/collections/docs/points", params={"ids": "dog", "with_vector": True})
    vector = vec.json()["points"][0]["vector"]
    for paged in ({"limit": 1}, {"offset": "a"}):  # ignored, the ids' points came back whole
        both = client.get("/v1/collections/docs/points", params={"ids": ["dog", "cat"], **paged})
        assert_error(both, 422, "invalid_input", next(iter(paged)))
    body = {"query": {"vector": vector}, "k": 1, "with_payload": False, "with_vector": True}
    hit = client.post("/v1/collections/docs/search", json=body).json()["results"][0]
    assert (
        hit["id"] == "dog" and "payload" not in hit and hit["score"] == pytest.approx(1, abs=1e-5)
    )
    np.testing.assert_allclose(hit["vector"], vector, atol=1e-6)
    flt = {
        "must": [{"key": "topic", "match": {"value": "finance"}}],
        "must_not": [{"key": "year", "range": {"gte": 2023}}],
    }
    body = {"query": {"text": "kitten"}, "k": 10, "filter": flt, "params": {"ef": 32}}
    assert [
        h["id"] for h in client.post("/v1/collections/docs/search", json=body).json()["results"]
    ] == ["stocks"]


def test_upsert_replace_delete_and_fetch(client: TestClient) -> None:
    create_docs(client, encoder="fake")
    r = client.put(
        "/v1/collections/docs/points",
        json={
            "points": [
                {
                    "id": "cat",
                    "text": "Interest rates and inflation.",
                    "payload": {"topic": "finance"},
                }
            ]
        },
    )
    assert r.json() == {"upserted": 1}
    assert client.get("/v1/collections/docs").json()["count"] == 4
    hits = client.post(
        "/v1/collections/docs/search", json={"query": {"text": "kitten"}, "k": 4}
    ).json()["results"]
    assert [h["id"] for h in hits].count("cat") == 1
    r = client.request(
        "DELETE",
        "/v1/collections/docs/points",
        params={"ids": ["dog"]},
        json={"ids": ["bonds", "missing"]},
    )
    assert r.json() == {"deleted": 2}
    got = client.get("/v1/collections/docs/points", params={"ids": ["dog", "cat"]}).json()
    assert got["points"] == [{"id": "cat", "payload": {"topic": "finance"}}]
    page1 = client.get("/v1/collections/docs/points", params={"limit": 1}).json()
    page2 = client.get(
        "/v1/collections/docs/points", params={"limit": 5, "offset": page1["next_offset"]}
    ).json()
    assert [p["id"] for p in page1["points"] + page2["points"]] == ["cat", "stocks"]
    assert page2["next_offset"] is None


def test_collection_lifecycle_and_errors(client: TestClient) -> None:
    r = client.post(
        "/v1/collections",
        json={"name": "v", "dim": 3, "metric": "l2", "index": {"type": "hnsw", "params": {"M": 8}}},
    )
    info = r.json()
    assert r.status_code == 201 and info["count"] == 0 and info["encoder"] is None
    assert info["index"]["type"] == "hnsw" and info["index"]["params"]["M"] == 8
    assert info["index"]["params"]["ef_construction"] == 200  # defaults are filled in and shown
    assert [c["name"] for c in client.get("/v1/collections").json()["collections"]] == ["v"]
    assert_error(
        client.post("/v1/collections", json={"name": "v", "dim": 3}),
        409,
        "collection_exists",
        "name",
    )
    for bad in ["../etc", "a b", "x" * 65, "semi;colon"]:
        assert_error(
            client.post("/v1/collections", json={"name": bad, "dim": 3}),
            422,
            "invalid_collection_name",
            "name",
        )
    assert_error(
        client.post("/v1/collections", json={"name": "w"}), 422, "invalid_dimension", "dim"
    )
    assert_error(
        client.post("/v1/collections", json={"name": "w", "dim": 3, "metric": "hamming"}),
        422,
        "invalid_collection_config",
        "metric",
    )
    assert_error(
        client.post("/v1/collections", json={"name": "w", "dim": 3, "index": {"type": "annoy"}}),
        422,
        "unknown_index_type",
        "index.type",
    )
    assert_error(
        client.post("/v1/collections", json={"name": "w", "dim": 3, "index": {"params": {"M": 1}}}),
        422,
        "invalid_index_params",
        "index.params.M",
    )
    assert_error(
        client.post(
            "/v1/collections", json={"name": "w", "dim": 3, "index": {"params": {"foo": 1}}}
        ),
        422,
        "invalid_index_params",
        "index.params.foo",
    )
    assert_error(
        client.post("/v1/collections", json={"name": "w", "encoder": "fake", "dim": 100}),
        422,
        "invalid_dimension",
        "dim",
    )
    assert_error(
        client.post("/v1/collections", json={"name": "w", "encoder": "nope"}),
        404,
        "encoder_not_found",
        "encoder",
    )
    assert client.delete("/v1/collections/v").json() == {"name": "v", "deleted": True}
    assert_error(client.get("/v1/collections/v"), 404, "collection_not_found")
    assert_error(client.delete("/v1/collections/v"), 404, "collection_not_found")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"points": [{"id": "a", "vector": [1, 2]}]},
            422,
            "dimension_mismatch",
            "points[0].vector",
        ),
        (
            {"points": [{"id": "a", "vector": [1, 2, 3]}, {"id": "b", "vector": [1]}]},
            422,
            "dimension_mismatch",
            "points[1].vector",
        ),
        (
            {"points": [{"id": "a", "vector": [1e39, 0, 0]}]},
            422,
            "non_finite_vector",
            "points[0].vector",
        ),
        ({"points": [{"id": "a", "text": "hi"}]}, 422, "no_encoder", "points[0].text"),
        ({"points": [{"id": "a"}]}, 422, "validation_error", "points[0]"),
        (
            {"points": [{"id": "a", "text": "x", "vector": [1, 2, 3]}]},
            422,
            "validation_error",
            "points[0]",
        ),
        ({"points": [{"id": None, "vector": [1, 2, 3]}]}, 422, "validation_error", None),
        ({"points": "nope"}, 422, "validation_error", "points"),
    ],
)
def test_upsert_errors_lose_nothing(
    client: TestClient, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    client.post("/v1/collections", json={"name": "v", "dim": 3})
    client.put("/v1/collections/v/points", json={"points": [{"id": "keep", "vector": [0, 0, 1]}]})
    assert_error(client.put("/v1/collections/v/points", json=body), status, code, field)
    assert client.get("/v1/collections/v").json()["count"] == 1  # nothing half-written
    assert client.get("/v1/collections/v/points", params={"ids": "keep"}).json()["points"]


def test_nan_vector_is_422(client: TestClient) -> None:
    client.post("/v1/collections", json={"name": "v", "dim": 3})
    raw = b'{"points": [{"id": "a", "vector": [NaN, 0, 1]}]}'
    r = client.put(
        "/v1/collections/v/points", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(r, 422, "non_finite_vector", "points[0].vector")
    raw = b'{"query": {"vector": [Infinity, 0, 1]}}'
    r = client.post(
        "/v1/collections/v/search", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(r, 422, "non_finite_vector", "query.vector")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"query": {"text": "x"}, "k": 0}, 422, "validation_error", "k"),
        ({"query": {"text": "x"}, "k": -5}, 422, "validation_error", "k"),
        ({"query": {"text": "x"}, "k": 10**9}, 422, "limit_exceeded", "k"),
        ({"query": {"vector": [1.0] * 10}}, 422, "dimension_mismatch", "query.vector"),
        ({"query": {"id": "missing"}}, 404, "point_not_found", "query.id"),
        ({"query": {}}, 422, "validation_error", "query"),
        (
            {"query": {"text": "x"}, "params": {"nprobe": 4}},
            422,
            "invalid_index_params",
            "params.nprobe",
        ),
        ({"query": {"text": "x"}, "params": {"ef": 0}}, 422, "invalid_index_params", "params.ef"),
        (
            {"query": {"text": "x"}, "filter": {"must": [{"key": "a", "match": {"like": "b"}}]}},
            422,
            "invalid_filter",
            "filter",
        ),
        (
            {"query": {"text": "x"}, "filter": {"must": [{"key": "a", "range": {"gt": "b"}}]}},
            422,
            "invalid_filter",
            "filter",
        ),
    ],
)
def test_search_errors(
    client: TestClient, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    create_docs(client, encoder="fake")
    assert_error(client.post("/v1/collections/docs/search", json=body), status, code, field)


def test_unknown_collection_and_route(client: TestClient) -> None:
    assert_error(
        client.post("/v1/collections/nope/search", json={"query": {"text": "x"}}),
        404,
        "collection_not_found",
    )
    assert_error(
        client.put("/v1/collections/nope/points", json={"points": [{"id": "a", "text": "x"}]}),
        404,
        "collection_not_found",
    )
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.patch("/v1/collections"), 405, "method_not_allowed")


def test_restart_keeps_everything(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    create_docs(client, encoder="fake")
    query = {"query": {"text": "interest rates"}, "k": 4}
    before = client.post("/v1/collections/docs/search", json=query).json()
    client.__exit__(None, None, None)  # clean shutdown writes the snapshot
    again = make_client()
    assert again.post("/v1/collections/docs/search", json=query).json() == before
    assert again.get("/v1/collections/docs").json()["count"] == 4

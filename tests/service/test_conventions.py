"""The conventions of the embedding servers: OpenAI's models, TEI's /embed, /info and /health,
Cohere's /v1/rerank, and an OpenAPI document with typed filters, security schemes and per-route
error statuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from support import LiveServer, assert_error

from service.app import create_app
from service.schemas.compat import CohereEmbedResponse
from service.settings import Settings

DOCS = ["Cats purr when they are content.", "Bond yields rose on Tuesday.", "Kittens purr."]


def _doc(**settings: Any) -> dict[str, Any]:
    return create_app(Settings(preload_encoders=[], **settings)).openapi()


def _statuses(doc: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(s) for s in doc["paths"][path][method]["responses"]} - {200, 201}


# OpenAI models ---------------------------------------------------------------------------------
def test_models_list_and_get_in_openais_shape(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert "minilm" in ids and ids == sorted(ids)
    first = body["data"][0]
    assert set(first) == {"id", "object", "created", "owned_by"}
    assert first["object"] == "model" and isinstance(first["created"], int)
    one = client.get("/v1/models/minilm").json()
    assert one["id"] == "minilm" and one["object"] == "model"
    assert_error(client.get("/v1/models/nope"), 404, "encoder_not_found", "model")  # as OpenAI


def test_openai_sdk_lists_and_retrieves_models_from_a_live_server(
    live_server: LiveServer,
) -> None:
    sdk = OpenAI(base_url=live_server.url + "/v1", api_key="unused", max_retries=0)
    assert "minilm" in [m.id for m in sdk.models.list()]
    assert sdk.models.retrieve("minilm").owned_by == "nestvec"


# TEI ---------------------------------------------------------------------------------------------
def test_tei_empty_input_is_400_empty_as_teis(client: TestClient) -> None:
    """TEI answers an empty input 400 with error_type Empty (it was 422 Validation here)."""
    for path, body in (("/embed", {"inputs": []}), ("/rerank", {"query": "q", "texts": []})):
        r = client.post(path, json=body)
        assert_error(r, 400, "empty_input")
        assert r.json()["error_type"] == "Empty", r.text
    # an empty text among the inputs too, as TEI's encode_request (it was 422 Validation)
    texts = (
        ("/embed", {"inputs": ""}, "inputs[0]"),
        ("/embed", {"inputs": ["a", ""]}, "inputs[1]"),
    )
    for path, body, field in (*texts, ("/rerank", {"query": "q", "texts": [""]}, "texts[0]")):
        r = client.post(path, json=body)
        assert_error(r, 400, "invalid_input", field)
        assert r.json()["error_type"] == "Empty", r.text
    json_type = {"content-type": "application/json"}  # a lone surrogate: no empty text
    lone = client.post("/embed", content=b'{"inputs": "\\ud800"}', headers=json_type)
    assert (lone.status_code, lone.json()["error_type"]) == (422, "Validation"), lone.text


def test_tei_embed_matches_openai_embeddings(client: TestClient) -> None:
    one = client.post("/embed", json={"inputs": DOCS[0]})
    assert one.status_code == 200, one.text
    vectors = one.json()
    assert len(vectors) == 1 and len(vectors[0]) == 384  # a list of vectors, also for one string
    many = client.post("/embed", json={"inputs": DOCS, "normalize": True, "truncate": True}).json()
    openai = client.post("/v1/embeddings", json={"model": "minilm", "input": DOCS}).json()
    expected = np.array([d["embedding"] for d in openai["data"]])
    np.testing.assert_allclose(np.array(many), expected, atol=1e-6)
    np.testing.assert_allclose(np.array(vectors[0]), expected[0], atol=1e-6)


def test_tei_root_post_embeds_as_huggingface_hub_posts(client: TestClient) -> None:
    """TEI answers `POST /` with embed; `InferenceClient(model=URL).feature_extraction` posts
    there (it was a 405 in Qdrant's shape). GET / stays Qdrant's root."""
    root = client.post("/", json={"inputs": DOCS[:2], "normalize": True, "truncate": False})
    assert root.status_code == 200, root.text
    assert root.json() == client.post("/embed", json={"inputs": DOCS[:2]}).json()
    r = client.post("/", json={"inputs": ["a"], "normalize": False})
    assert_error(r, 422, "unsupported_input", "normalize")
    assert r.json()["error_type"] == "Validation"  # TEI's fields, not Qdrant's envelope
    assert "version" in client.get("/").json()


def test_tei_embed_refuses_what_it_cannot_do(client: TestClient) -> None:
    r = client.post("/embed", json={"inputs": ["a"], "normalize": False})
    assert_error(r, 422, "unsupported_input", "normalize")
    # what TEI's clients read (huggingface_hub raises with `error`)
    assert r.json()["error_type"] == "Validation" and "normalise" in r.json()["error"]
    r = client.post("/embed", json={"inputs": 3})
    assert_error(r, 422, "validation_error")
    assert r.json()["field"].startswith("inputs")
    assert_error(client.post("/embed", json={"input": "a"}), 422, "validation_error")
    for ids in ([101, 102], [[101, 102]]):  # TEI's token-id inputs: refused by name, as OpenAI's
        r = client.post("/embed", json={"inputs": ids})
        assert_error(r, 422, "unsupported_input", "inputs")
        assert "token-id" in r.json()["message"]
    r = client.post("/embed", json={"inputs": "a", "truncation_direction": "Left"})
    assert_error(r, 422, "unsupported_input", "truncation_direction")  # it kept the start
    assert client.post("/embed", json={"inputs": "a", "truncation_direction": "right"}).is_success
    rerank = {"query": "q", "texts": ["a"], "truncation_direction": "Left"}  # /rerank alike
    assert_error(
        client.post("/rerank", json=rerank), 422, "unsupported_input", "truncation_direction"
    )
    # TEI's truncate is an Option<bool>: null as its clients send it (it was a 422)
    assert client.post("/rerank", json={"query": "q", "texts": ["a"], "truncate": None}).is_success
    rerank["truncation_direction"] = "sideways"
    assert_error(
        client.post("/rerank", json=rerank), 422, "validation_error", "truncation_direction"
    )


def test_tei_embed_uses_the_default_encoder_setting(make_client: Callable[..., TestClient]) -> None:
    client = make_client(default_encoder="fake")
    assert len(client.post("/embed", json={"inputs": "hello"}).json()[0]) == 64
    info = client.get("/info").json()
    assert info["model_id"] == "fake"
    # ranking without a model ranks with it too (it was minilm whatever the setting)
    docs = ["purring cats", "bond yields"]
    ranked = client.post("/v1/rank", json={"query": "cats", "documents": docs}).json()
    fake = client.post("/v1/rank", json={"query": "cats", "documents": docs, "model": "fake"})
    assert ranked["model"] == "fake" and ranked == fake.json()
    tei = client.post("/rerank", json={"query": "cats", "texts": docs}).json()
    assert [r["score"] for r in tei] == [r["relevance_score"] for r in ranked["results"]]


def test_tei_info_and_health(client: TestClient) -> None:
    info = client.get("/info").json()
    assert info["model_id"] == info["served_model_name"] == "minilm"  # TEI's, required since 1.9
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    # the precision minilm runs in: hard-coded "float32" was wrong where it runs bfloat16
    assert (
        info["model_dtype"] in ("float32", "bfloat16", "int8") and info["max_input_length"] == 256
    )
    from encoders.minilm import MiniLMEncoder

    assert info["model_dtype"] == MiniLMEncoder().precision
    for field in (
        "model_sha",
        "max_concurrent_requests",
        "max_batch_tokens",
        "max_client_batch_size",
        "tokenization_workers",
        "version",
        "auto_truncate",
    ):
        assert field in info, field
    assert info["max_client_batch_size"] == Settings().max_batch
    health = client.get("/health")
    assert health.status_code == 200 and health.content == b""


# Cohere -------------------------------------------------------------------------------------------
def test_cohere_rerank_path_ranks_as_v1_rank(client: TestClient) -> None:
    body = {"query": "purring cats", "documents": DOCS, "top_n": 2, "return_documents": True}
    cohere = client.post("/v1/rerank", json=body)
    assert cohere.status_code == 200, cohere.text
    answer = cohere.json()
    assert set(answer) == {"id", "results", "meta"}
    assert answer["meta"]["api_version"]["version"] == "1"
    native = client.post("/v1/rank", json=body).json()
    assert answer["results"] == native["results"]
    assert [r["index"] for r in answer["results"]] == [0, 2]
    assert answer["results"][0]["document"] == {"text": DOCS[0]}
    r = client.post("/v1/rerank", json={"query": "x", "documents": []})
    assert_error(r, 400, "empty_input", "documents")  # Cohere's status for a refusal


def test_cohere_v2_rerank_path_answers_as_v1(client: TestClient) -> None:
    """`cohere.ClientV2().rerank` posts Cohere's v2 body to /v2/rerank (it was a 404)."""
    body = {"model": "minilm", "query": "purring cats", "documents": DOCS, "top_n": 2}
    v2 = client.post("/v2/rerank", json={**body, "max_tokens_per_doc": 4096, "priority": 1})
    assert v2.status_code == 200, v2.text
    answer = v2.json()
    assert set(answer) == {"id", "results", "meta"}
    assert answer["meta"]["api_version"]["version"] == "2"
    assert answer["results"] == client.post("/v1/rerank", json=body).json()["results"]
    assert all(set(r) == {"index", "relevance_score"} for r in answer["results"])
    assert_error(client.post("/v2/rerank", json={**body, "top_n": 0}), 400, "validation_error")


def test_cohere_v2_embed_answers_by_type(client: TestClient) -> None:
    """`cohere.ClientV2().embed` posts to /v2/embed (it was a 404): float embeddings, equal to
    /v1/embeddings', in Cohere's by-type answer; what it cannot honour is refused by name."""
    body = {"model": "minilm", "texts": DOCS[:2], "input_type": "search_document"}
    r = client.post("/v2/embed", json={**body, "embedding_types": ["float"], "truncate": "END"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["response_type"] == "embeddings_by_type" and answer["texts"] == DOCS[:2]
    assert set(answer) == {"id", "embeddings", "texts", "meta", "response_type"}
    assert answer["meta"]["billed_units"]["input_tokens"] > 0
    CohereEmbedResponse.model_validate(answer)  # the answer is what the schema declares
    declared = client.get("/openapi.json").json()["paths"]["/v2/embed"]["post"]["responses"]
    assert "CohereEmbedResponse" in str(declared["200"])  # it was an empty object
    openai = client.post("/v1/embeddings", json={"model": "minilm", "input": DOCS[:2]}).json()
    expected = np.array([d["embedding"] for d in openai["data"]])
    np.testing.assert_allclose(np.array(answer["embeddings"]["float"]), expected, atol=1e-6)
    refused = [
        ({"embedding_types": ["int8"]}, "unsupported_input", "embedding_types"),
        ({"truncate": "START"}, "unsupported_input", "truncate"),
        ({"max_tokens": 16}, "unsupported_input", "max_tokens"),
        ({"images": ["data:image/png;base64,AA=="]}, "unsupported_input", "images"),
        ({"output_dimension": 100}, "invalid_dimension", "output_dimension"),
        ({"model": "nope"}, "encoder_not_found", "model"),
        ({"texts": []}, "empty_input", "texts"),
        ({"input_type": "bogus"}, "validation_error", "input_type"),  # it was taken silently
    ]
    for change, code, field in refused:
        assert_error(
            client.post("/v2/embed", json={**body, **change}),
            400 if code != "encoder_not_found" else 404,  # Cohere's status for a refusal
            code,
            field,
        )


# OpenAPI -----------------------------------------------------------------------------------------
def test_openapi_has_security_schemes_and_marks_guarded_routes() -> None:
    doc = _doc()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "api-key"}
    assert {"bearer": []} in doc["paths"]["/v1/embeddings"]["post"]["security"]
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_openapi_types_filter_and_params() -> None:
    doc = _doc()
    schemas = doc["components"]["schemas"]
    search = schemas["SearchRequest"]["properties"]
    assert {"$ref": "#/components/schemas/Filter"} in search["filter"]["anyOf"]
    assert {"$ref": "#/components/schemas/IndexSearchParams"} in search["params"]["anyOf"]
    assert set(schemas["Filter"]["properties"]) == {"must", "should", "must_not", "min_should"}
    conditions = schemas["Filter"]["properties"]["must"]["anyOf"][0]["items"]["anyOf"]
    refs = {c["$ref"].rsplit("/", 1)[1] for c in conditions}
    assert refs == {
        "FieldCondition",
        "IsEmptyCondition",
        "IsNullCondition",
        "HasIdCondition",
        "Filter",
    }
    assert "values_count" in schemas["FieldCondition"]["properties"]
    assert {"ef", "nprobe", "rescore", "exact"} <= set(schemas["IndexSearchParams"]["properties"])
    count = schemas["CountRequest"]["properties"]["filter"]["anyOf"]
    assert {"$ref": "#/components/schemas/Filter"} in count
    # FastAPI's own validation body is never sent: a native route's 422 is ErrorBody
    invalid = doc["paths"]["/v1/collections/{name}/search"]["post"]["responses"]["422"]
    assert invalid["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_filter_is_still_validated_by_the_engine(client: TestClient) -> None:
    client.post("/v1/collections", json={"name": "c", "encoder": "minilm"})
    bad = {"filter": {"must": [{"key": "a", "match": {"regex": "x"}}]}}
    assert_error(client.post("/v1/collections/c/count", json=bad), 422, "invalid_filter", "filter")
    r = client.post("/v1/collections/c/count", json={"filter": ["not", "an", "object"]})
    assert_error(r, 422, "validation_error", "filter")


def test_each_route_lists_only_the_statuses_it_can_return() -> None:
    doc = _doc()
    assert _statuses(doc, "get", "/healthz") == set()
    assert _statuses(doc, "get", "/metrics") == set()
    assert _statuses(doc, "get", "/v1/encoders") == set()  # no keys configured: no 401
    assert 404 not in _statuses(doc, "get", "/v1/models")
    assert {400, 404} <= _statuses(doc, "get", "/v1/models/{name}")
    embeddings = _statuses(doc, "post", "/v1/embeddings")
    assert {400, 413, 429, 503} <= embeddings and not {401, 403} & embeddings
    # OpenAI's and Cohere's routes refuse with 400, as their servers do (their SDKs retried 409)
    for path in ("/v1/embeddings", "/v2/embed", "/v1/rerank", "/v2/rerank"):
        assert not {409, 422} & _statuses(doc, "post", path), path
    # an unknown model is 404 on every route that encodes (Cohere's v2 embed left it out)
    for path in ("/v1/embed", "/embed", "/v2/embed", "/v1/rank", "/v2/rerank", "/rerank"):
        assert {404, 429, 503} <= _statuses(doc, "post", path), path
    search = _statuses(doc, "post", "/v1/collections/{name}/search")
    assert {404, 409, 422, 429} <= search
    assert 429 not in _statuses(doc, "get", "/v1/collections/{name}")
    # every JSON body answers 415 to another declared type (curl -d's form encoding)
    for path in (
        "/v1/collections",
        "/v1/collections/{name}/count",
        "/v1/collections/{name}/rebuild",
    ):
        assert 415 in _statuses(doc, "post", path), path
    body = doc["paths"]["/v1/embeddings"]["post"]["responses"]["429"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


@pytest.mark.parametrize(
    ("settings", "read", "write"),
    [
        ({"api_keys": ["k"]}, {401}, {401}),
        ({"api_keys": ["k"], "read_only_keys": ["r"]}, {401}, {401, 403}),
        ({"rate_limit_per_minute": 5}, {429}, {429}),
    ],
)
def test_auth_statuses_follow_the_settings(
    settings: dict[str, Any], read: set[int], write: set[int]
) -> None:
    doc = _doc(**settings)
    guarded = {401, 403, 429}
    assert _statuses(doc, "get", "/v1/encoders") & guarded == read
    assert _statuses(doc, "post", "/v1/collections") & guarded == write
    assert _statuses(doc, "get", "/healthz") == set()  # the open probes stay open

"""What the middleware refuses before any route runs (401 key, 413 body, 429 rate) leaves a
Qdrant path in Qdrant's error shape, as the routes' own errors there do; /v1 keeps its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from support import assert_error

QDRANT_SHAPE = {"status", "time"}


def _qdrant_error(response: object, status: int) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == QDRANT_SHAPE and isinstance(body["status"]["error"], str), body


def test_missing_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=["secret"])
    _qdrant_error(client.delete("/collections/c1"), 401)
    _qdrant_error(client.get("/"), 401)
    assert_error(client.get("/v1/collections"), 401, "unauthorized")


def test_body_too_large(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=100)
    body = {"vector": [0.5] * 64, "limit": 3}
    _qdrant_error(client.post("/collections/c1/points/search", json=body), 413)
    assert_error(client.post("/v1/collections/c1/search", json=body), 413, "too_large")


def test_rate_limited(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=6)  # a burst of one
    assert client.get("/collections").status_code == 200
    _qdrant_error(client.get("/collections"), 429)
    assert_error(client.get("/v1/collections"), 429, "rate_limited")


def test_openai_and_tei_routes_keep_their_clients_fields_on_middleware_refusals(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """A 401 or 413 on /v1/embeddings or /embed lacked OpenAI's `error` object and TEI's
    `error` / `error_type`, which every other error there carries."""
    keyed = make_client(tmp_path / "keyed", api_keys=["secret"])
    small = make_client(tmp_path / "small", max_body_bytes=100)
    big = {"input": ["x" * 200], "model": "fake"}
    openai = [keyed.post("/v1/embeddings", json=big), small.post("/v1/embeddings", json=big)]
    for answer, status in zip(openai, (401, 413), strict=True):
        assert answer.status_code == status
        error = answer.json()["error"]
        assert error["code"] == answer.json()["code"] and error["message"]
    tei = [
        keyed.post("/embed", json={"inputs": "x"}),
        small.post("/embed", json={"inputs": "x" * 200}),
    ]
    for answer, status in zip(tei, (401, 413), strict=True):
        assert answer.status_code == status
        assert answer.json()["error_type"] == "Validation" and answer.json()["error"]
    assert keyed.get("/v1/models/x").json()["error"]["code"] == "unauthorized"

"""What the middleware refuses before any route runs (401 key, 413 body, 429 rate) leaves a
Qdrant path in Qdrant's error shape, as the routes' own errors there do; /v1 keeps its own."""

from __future__ import annotations

from collections.abc import Callable

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

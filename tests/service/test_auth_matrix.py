"""Read/write access is declared on each route; every route × key kind answers as declared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from face_photos import KNOWN, b64, photo
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from support import DOCS, assert_error

from encoders import EncoderPool
from service.app import create_app
from service.asgi import is_qdrant_path
from service.auth import OPEN_PATHS, require_read, require_write
from service.settings import Settings

FULL = {"Authorization": "Bearer full-key"}
READ = {"api-key": "read-key"}
UNKNOWN = {"Authorization": "Bearer not-a-key"}
KEYS = {"api_keys": ["full-key"], "read_only_keys": ["read-key"]}

FACE_A, FACE_B = KNOWN["person_01"]
UPLOAD = {"files": [("files", ("a.jpg", photo(FACE_A), "image/jpeg"))]}
# Valid requests a read-only key must get 200 on (the README: read-only keys may embed, rank...).
READ_OK: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/rerank"): {"json": {"query": "purring pets", "texts": ["Cats purr.", "Bonds."]}},
    ("POST", "/v1/embed/upload"): UPLOAD,
    ("POST", "/v1/faces/verify"): {"json": {"a": b64(photo(FACE_A)), "b": b64(photo(FACE_B))}},
    ("POST", "/v1/embed"): {"json": {"encoder": "minilm", "inputs": ["hello"]}},
    ("POST", "/v1/embeddings"): {"json": {"model": "minilm", "input": "hello"}},
    ("POST", "/v1/rank"): {"json": {"query": "pets", "documents": ["Cats purr.", "Bonds."]}},
    ("POST", "/v1/collections/{name}/search"): {"json": {"query": {"text": "cats"}, "k": 2}},
    ("POST", "/v1/collections/{name}/search/batch"): {
        "json": {"searches": [{"query": {"text": "cats"}, "k": 2}]}
    },
    ("POST", "/v1/collections/{name}/count"): {"json": {}},
    ("POST", "/v1/collections/{name}/recommend"): {"json": {"positive": ["cat"], "k": 2}},
    ("GET", "/v1/collections"): {},
    ("GET", "/v1/collections/{name}"): {},
    ("GET", "/v1/collections/{name}/points"): {},
    ("GET", "/v1/encoders"): {},
}
# Valid writes: the full key really does them (the read-only key gets 403 on the same request).
WRITE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/collections"): {"json": {"name": "made", "encoder": "minilm"}},
    ("PUT", "/v1/collections/{name}/points"): {
        "json": {"points": [{"id": "new", "text": "A new point.", "payload": {}}]}
    },
    ("DELETE", "/v1/collections/{name}/points"): {"json": {"ids": ["new"]}},
    ("PUT", "/v1/collections/{name}/payload_index"): {
        "json": {"field_name": "topic", "field_schema": "keyword"}
    },
}
# A real photo sent as a form: the read-only key is refused before the form is looked at.
FORMS = {("POST", "/v1/collections/{name}/points/upload"): UPLOAD}
DROP = ("DELETE", "/v1/collections/{name}")
WRITES = {
    ("POST", "/v1/collections"),
    DROP,
    ("POST", "/v1/collections/{name}/train"),
    ("PUT", "/v1/collections/{name}/points"),
    ("DELETE", "/v1/collections/{name}/points"),
    ("POST", "/v1/collections/{name}/points/upload"),
    ("POST", "/v1/collections/{name}/rebuild"),
    ("PUT", "/v1/collections/{name}/payload_index"),
    ("DELETE", "/v1/collections/{name}/payload_index/{field_name:path}"),
    # the Qdrant-compatible API's writes (service/qdrant/)
    ("PUT", "/collections/{name}"),
    ("DELETE", "/collections/{name}"),
    ("PUT", "/collections/{name}/points"),
    ("POST", "/collections/{name}/points/delete"),
    ("POST", "/collections/{name}/points/payload"),
    ("PUT", "/collections/{name}/points/payload"),
    ("POST", "/collections/{name}/points/payload/delete"),
    ("POST", "/collections/{name}/points/payload/clear"),
    ("PUT", "/collections/{name}/index"),
    ("DELETE", "/collections/{name}/index/{field_name:path}"),
}
QDRANT_DROP = ("DELETE", "/collections/{name}")


def api_routes(app: FastAPI) -> list[tuple[str, str, list[Callable[..., None]]]]:
    """(method, path, access declarations) of every APIRoute, router-level ones included."""
    found = []
    for route in iter_route_contexts(app.routes):  # included routers are expanded lazily
        if isinstance(route.original_route, APIRoute):
            calls = [d.call for d in route.dependant.dependencies]
            access = [c for c in calls if c in (require_read, require_write)]
            found += [(method, route.path, access) for method in route.methods]
    return found


def test_every_route_declares_read_or_write_once() -> None:
    routes = api_routes(create_app(Settings(preload_encoders=[], **KEYS)))
    assert len(routes) > 25
    undeclared = [(m, p) for m, p, access in routes if p not in OPEN_PATHS and len(access) != 1]
    assert not undeclared, f"routes without exactly one ReadAccess/WriteAccess: {undeclared}"
    assert all(not access for _, p, access in routes if p in OPEN_PATHS)
    writes = {(m, p) for m, p, access in routes if access == [require_write]}
    assert writes == WRITES  # the README's list of writes, nothing more and nothing less


def _call(client: TestClient, method: str, path: str, headers: dict[str, str], name: str) -> Any:
    url = path.replace(":path}", "}").format(
        name=name, filename="nosuch.png", field_name="topic", point_id="cat", rest="x/nosuch"
    )
    key = (method, path)
    request = READ_OK.get(key) or WRITE_BODIES.get(key) or FORMS.get(key)
    if request is None and method in ("POST", "PUT", "DELETE"):
        request = {"json": {}}  # may be invalid (422): the auth decision comes first
    return client.request(method, url, headers=headers, **(request or {}))


def _setup(client: TestClient) -> None:
    for name in ("docs", "scratch"):
        body = {"name": name, "encoder": "minilm", "index": {"type": "hnsw"}}
        assert client.post("/v1/collections", json=body, headers=FULL).status_code == 201
        points = [{"id": k, "text": t, "payload": p} for k, (t, p) in DOCS.items()]
        r = client.put(f"/v1/collections/{name}/points", json={"points": points}, headers=FULL)
        assert r.json() == {"upserted": 4}, r.text


def test_route_by_key_matrix(
    make_client: Callable[..., TestClient], encoder_pool: EncoderPool
) -> None:
    encoder_pool.get("face-dlib")  # the real face encoder, for upload and verify
    client = make_client(**KEYS)
    _setup(client)
    routes = [(m, p) for m, p, _ in api_routes(client.app)]  # type: ignore[arg-type]
    # the drops come last
    for method, path in sorted(routes, key=lambda mp: mp in (DROP, QDRANT_DROP)):
        if path in OPEN_PATHS:
            assert _call(client, method, path, {}, "docs").status_code == 200, path
            continue
        where = f"{method} {path}"
        for key in ({}, UNKNOWN):
            r = _call(client, method, path, key, "docs")
            if is_qdrant_path(path, method):  # in Qdrant's error envelope, as its 403s
                assert r.status_code == 401 and "error" in r.json()["status"], (where, r.text)
            else:
                assert_error(r, 401, "unauthorized")
        r = _call(client, method, path, READ, "docs")
        if (method, path) in WRITES and not path.startswith("/v1/"):
            assert r.status_code == 403, (where, r.text)  # in Qdrant's error envelope
        elif (method, path) in WRITES:
            assert_error(r, 403, "forbidden")
        elif (method, path) in READ_OK:
            assert r.status_code == 200, (where, r.text)
        else:
            assert r.status_code not in (401, 403), (where, r.text)
        # full-key writes go to a scratch collection, so `docs` stays as the reads expect it
        r = _call(client, method, path, FULL, "scratch" if (method, path) in WRITES else "docs")
        assert r.status_code not in (401, 403), (where, r.text)
        if (method, path) in WRITE_BODIES:
            assert r.status_code in (200, 201), (where, r.text)
    # nothing a read-only key sent was written: docs is whole, "made" exists only by the full key
    r = client.post("/v1/collections/docs/count", json={}, headers=READ)
    assert r.json() == {"count": 4}
    names = {c["name"] for c in client.get("/v1/collections", headers=READ).json()["collections"]}
    assert names == {"docs", "made"}  # scratch was dropped by the full key's DELETE


def test_an_empty_key_header_is_no_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(**KEYS)
    for empty in ({"api-key": ""}, {"Authorization": "Bearer "}, {"Authorization": "Bearer  "}):
        r = client.post("/v1/collections", json={"name": "x", "dim": 2}, headers=empty)
        assert_error(r, 401, "unauthorized")
        assert "missing" in r.json()["message"]

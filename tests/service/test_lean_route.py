"""LeanRoute answers exactly as FastAPI's own handler does, hostile bodies included."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.testclient import TestClient

from service.errors import install_error_handlers
from service.responses import json_response
from service.routers import JsonRoute, LeanRoute
from service.schemas.search import SearchRequest


async def _state(request: Request) -> str:
    return "seen"


Seen = Annotated[str, Depends(_state)]


def _app() -> FastAPI:
    """The same endpoint served twice: /plain by FastAPI's handler, /lean by LeanRoute."""
    app = FastAPI()
    for prefix, route_class in (("/plain", JsonRoute), ("/lean", LeanRoute)):
        router = APIRouter(route_class=route_class, prefix=prefix + "/{name}")

        @router.post("/search")
        async def search(name: str, req: SearchRequest, seen: Seen) -> Response:
            return json_response({"name": name, "seen": seen, "req": ascii(req.model_dump())})

        @router.post("/sync")
        def search_sync(name: str, req: SearchRequest) -> Response:
            return json_response({"name": name, "k": req.k})

        app.include_router(router)
    install_error_handlers(app)
    return app


HOSTILE: list[tuple[bytes, dict[str, str]]] = [
    (b'{"query": {"vector": [1, 2]}, "k": 3}', {"content-type": "application/json"}),
    (b'{"query": {"vector": [1, 2]}}', {"content-type": "application/vnd.api+json"}),
    (b'{"query": {"vector": [1, 2]}}', {}),  # no content type
    (b'{"query": {"vector": [1, 2]}}', {"content-type": "text/plain"}),
    (b"", {"content-type": "application/json"}),
    (b"{", {"content-type": "application/json"}),
    (b"[1, 2]", {"content-type": "application/json"}),
    (b'{"query": {"vector": [NaN]}}', {"content-type": "application/json"}),
    (b'{"query": {"vector": [1]}, "k": 123456789012345678901234567890}', {}),
    (b'{"query": {"vector": [1]}, "k": 0}', {"content-type": "application/json"}),
    (b'{"query": {"vector": [1]}, "surprise": 1}', {"content-type": "application/json"}),
    (b'{"query": {"text": "a", "vector": [1]}}', {"content-type": "application/json"}),
    (b'{"query": {"text": "\\ud800"}}', {"content-type": "application/json"}),
    (b'{"query": {"vector": [1]}, "filter": {"must": 5}}', {"content-type": "application/json"}),
    (b'{"query": {"vector": "x"}}', {"content-type": "application/json; charset=utf-8"}),
]


@pytest.mark.parametrize("path", ["search", "sync"])
@pytest.mark.parametrize(("body", "headers"), HOSTILE)
def test_lean_route_answers_as_fastapi_does(
    path: str, body: bytes, headers: dict[str, str]
) -> None:
    with TestClient(_app()) as client:
        plain = client.post(f"/plain/a%20b/{path}", content=body, headers=headers)
        lean = client.post(f"/lean/a%20b/{path}", content=body, headers=headers)
    assert (lean.status_code, lean.json()) == (plain.status_code, plain.json())
    assert plain.status_code in (200, 400, 415, 422)  # 415: a body declared as text


def test_lean_route_keeps_the_openapi_schema() -> None:
    paths = TestClient(_app()).get("/openapi.json").json()["paths"]
    plain, lean = paths["/plain/{name}/search"]["post"], paths["/lean/{name}/search"]["post"]
    assert lean["requestBody"] == plain["requestBody"]
    assert lean["parameters"] == plain["parameters"]


def test_lean_route_refuses_shapes_it_does_not_handle() -> None:
    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match="path params and one body"):

        @router.get("/page")
        async def page(limit: int = Query(10)) -> Response:
            return Response()

    with pytest.raises(TypeError, match="path params are str"):

        @router.get("/{n}")
        async def by_number(n: int) -> Response:
            return Response()

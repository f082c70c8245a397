"""The OpenAPI document: security schemes, and per route only the error statuses it can return.

Statuses come from what a route is: its access declaration (and whether keys are configured), its
inputs (a body: 400 bad JSON, 413 too large; any input: 422), its path parameters (404), and its
resource family (tag): encoding routes (they take a body) can be overloaded (429) or stopped
(503); collection routes (naming one in the path, or taking a body) can conflict (409) or lose
their Milvus (503). A route's own `responses=` are kept; FastAPI's validation body (which this
service never sends) gives way to ErrorBody.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.params import Form
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from service.auth import require_read, require_write
from service.envelopes import AS_BAD_REQUEST, BAD_REQUEST_PATHS
from service.schemas.common import ErrorBody
from service.settings import Settings

# Statuses a family of routes can answer beyond the computed ones (see service/errors.py).
ENCODING = {404, 409, 413, 415, 429, 503}  # unknown or untrained encoder, queue full, shutdown
COLLECTION = {404, 409, 503}  # unknown name, conflicts, an unreachable Milvus
STATUSES_BY_TAG: dict[str, set[int]] = {
    "embeddings": ENCODING,
    "tei": ENCODING,
    "cohere": ENCODING,
    "rank": ENCODING,
    "faces": ENCODING,
    "uploads": ENCODING,
    "search": ENCODING | COLLECTION,
    "points": ENCODING | COLLECTION,
    "recommend": ENCODING | COLLECTION,
    "collections": COLLECTION,
    "analysis": COLLECTION,
    "qdrant": COLLECTION,
}
# Qdrant's paths answer errors in Qdrant's envelope, not ErrorBody
OWN_ERROR_SHAPE = {"qdrant"}
QDRANT_ERROR = {
    "type": "object",
    "properties": {
        "status": {"type": "object", "properties": {"error": {"type": "string"}}},
        "time": {"type": "number"},
    },
}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
}
SECURITY = [{"bearer": []}, {"apiKey": []}]  # either one


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def declared_access(route: RouteContext) -> set[Callable[..., Any]]:
    """The access declarations (ReadAccess / WriteAccess) among a route's dependencies."""
    return {c for c in _calls(route.dependant) if c in (require_read, require_write)}


def route_statuses(route: RouteContext, settings: Settings) -> set[int]:
    """The error statuses `route` can answer under `settings`."""
    dependant, access = route.dependant, declared_access(route)
    statuses: set[int] = set()
    if access:
        if settings.api_keys or settings.read_only_keys:
            statuses.add(401)
        if require_write in access and settings.read_only_keys:
            statuses.add(403)
        if settings.rate_limit_per_minute:
            statuses.add(429)
    bodies = list(_params(dependant, "body_params"))
    has_body, has_path = bool(bodies), any(True for _ in _params(dependant, "path_params"))
    if has_body:
        statuses |= {400, 413}
        if not any(isinstance(p.field_info, Form) for p in bodies):
            statuses.add(415)  # a JSON body declared as another type (routers.refuse_non_json)
    if has_body or has_path or any(True for _ in _params(dependant, "query_params")):
        statuses.add(422)
    if has_path:
        statuses.add(404)
    for tag in route.tags:
        family = STATUSES_BY_TAG.get(str(tag), set())
        # what encodes takes a body; what opens a collection names it (path) or takes a body
        statuses |= family if has_body else family & COLLECTION if has_path else set()
    if route.path_format in BAD_REQUEST_PATHS and statuses & AS_BAD_REQUEST:
        statuses = (statuses - AS_BAD_REQUEST) | {400}  # as OpenAI's and Cohere's servers answer
    return statuses


def _params(dependant: Dependant, *kinds: str) -> Iterator[Any]:
    for kind in kinds:
        yield from getattr(dependant, kind)
    for sub in dependant.dependencies:
        yield from _params(sub, *kinds)


def document_routes(app: FastAPI, settings: Settings) -> None:
    """Build the document with security schemes and each route's own error statuses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = doc.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    components.setdefault("schemas", {})["ErrorBody"] = ErrorBody.model_json_schema()
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    qdrant_error = {
        "description": "Error (Qdrant's envelope)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QdrantError"}}},
    }
    components["schemas"]["QdrantError"] = QDRANT_ERROR
    # included routers are expanded lazily: their routes exist only as contexts
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        # another API's paths answer errors in its own envelope
        native = not OWN_ERROR_SHAPE & {str(tag) for tag in route.tags}
        for method in route.methods:
            operation = doc["paths"][route.path_format][method.lower()]
            if declared_access(route):
                operation["security"] = SECURITY
            responses = operation["responses"]
            responses.pop("422", None)  # FastAPI's own validation body: never sent here
            for status in sorted(route_statuses(route, settings)):
                responses.setdefault(str(status), error if native else qdrant_error)
    if "HTTPValidationError" not in json.dumps(doc["paths"]):
        for unused in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(unused, None)
    return doc

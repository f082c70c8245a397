"""Errors in other APIs' envelopes: Qdrant's on its routes (instead of nestvec's), and the fields
that OpenAI and TEI clients read on theirs (beside nestvec's `{"code", "message", "field"}`, so
one error reads the same to every client)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from encoders.base import EMPTY_TEXT
from service.observability import route_path

OPENAI_PATHS = frozenset({"/v1/embeddings", "/v1/models", "/v1/models/{name}"})
TEI_PATHS = frozenset({"/", "/embed", "/rerank", "/info", "/health"})
COHERE_PATHS = frozenset({"/v2/embed", "/v1/rerank", "/v2/rerank"})
PEER_PATHS = OPENAI_PATHS | TEI_PATHS | COHERE_PATHS
# OpenAI and Cohere refuse a request with 400, which their SDKs raise as BadRequestError; they
# retry a 409 (twice, with backoff) and raised nestvec's 422 as another class
BAD_REQUEST_PATHS = OPENAI_PATHS | COHERE_PATHS
AS_BAD_REQUEST = frozenset({409, 422})
# TEI's error_type by status (its ErrorType: Validation, Overloaded, Unhealthy, Backend)
TEI_TYPES = {429: "Overloaded", 503: "Unhealthy"}
# OpenAI's own codes where a client branches on them (an unknown model: `model_not_found`)
OPENAI_CODES = {"encoder_not_found": "model_not_found"}


def peer_status(path: str | None, status: int, code: str | None, message: str | None = None) -> int:
    """The status a peer's clients expect for nestvec's `status` on that peer's route: 400 for a
    refusal on OpenAI's and Cohere's, and for an empty input on TEI's (its ErrorType::Empty)."""
    if path in BAD_REQUEST_PATHS and status in AS_BAD_REQUEST:
        return 400
    if path in TEI_PATHS and status == 422 and _empty(code, message):
        return 400
    return status


def _empty(code: str | None, message: str | None) -> bool:
    """No inputs, or an empty text among them (TEI answers both with ErrorType::Empty)."""
    return code == "empty_input" or (code == "invalid_input" and message == EMPTY_TEXT)


def peer_fields(path: str | None, status: int, body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `error` object (the SDK fills `param` and `type` from it) or TEI's `error` and
    `error_type`, for an error answered on one of their routes; else nothing."""
    if path in OPENAI_PATHS:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        error = {"message": body["message"], "type": kind, "param": body["field"]}
        return {"error": {**error, "code": OPENAI_CODES.get(body["code"], body["code"])}}
    if path in TEI_PATHS:
        kind = TEI_TYPES.get(status, "Backend" if status >= 500 else "Validation")
        kind = "Empty" if _empty(body["code"], body["message"]) else kind
        return {"error": body["message"], "error_type": kind}
    return {}


def api_shaped(handler: Any) -> Any:
    """The handler, answering a Qdrant-compatible route (service.qdrant) in Qdrant's error shape
    `{"status": {"error"}, "time"}`, status and headers kept, so qdrant-client raises its own;
    on OpenAI's and TEI's routes, with the fields their clients read added (peer_fields)."""

    async def handle(request: Request, exc: Exception) -> Any:
        response = await handler(request, exc)
        qdrant = getattr(request.scope.get("route"), "qdrant_errors", False)
        path = None if qdrant else route_path(request.scope)
        if not qdrant and path not in PEER_PATHS:
            return response
        body = json.loads(bytes(response.body))
        kept = ("retry-after", "allow")
        headers = {k: v for k, v in response.headers.items() if k.lower() in kept}
        status = response.status_code
        if qdrant:
            body = {"status": {"error": body.get("message", "error")}, "time": 0.0}
        else:
            body |= peer_fields(path, status, body)
            status = peer_status(path, status, body.get("code"), body.get("message"))
        return JSONResponse(body, status_code=status, headers=headers or None)

    return handle

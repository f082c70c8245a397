"""One table from domain exceptions to HTTP status, and one JSON error body for all of them."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from diagnostics.errors import PlotNotFound
from encoders.errors import (
    ArtifactMissing,
    ArtifactUnreadable,
    EncoderError,
    EncoderNotFound,
    InputTooLarge,
    UnsupportedFormat,
)
from index.analysis.errors import AnalysisError
from index.errors import (
    CollectionExists,
    CollectionNotFound,
    CollectionUnavailable,
    IndexBackendUnavailable,
    IndexError_,
    NotEnoughPoints,
    PayloadIndexNotFound,
    PointNotFound,
)
from nestvec import descriptors
from nestvec.fields import field_path
from nestvec.registry import ExtraMissing
from service.envelopes import api_shaped
from service.storage_errors import damaged_store, storage_problem

log = logging.getLogger("nestvec")


class ServiceError(Exception):
    """A request the service cannot honour, independent of encoders and indexes."""

    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@contextmanager
def fields_renamed(names: dict[str, str]) -> Iterator[None]:
    """Errors raised inside name their field as the route's own body spells it: a compatible
    route (OpenAI's `input`, `dimensions`) reuses the native path, whose fields say `inputs`, `dim`.
    A first segment with its index may be named (`inputs[2]` -> `points[7].text`, so
    `inputs[2].edges` -> `points[7].text.edges`); else the segment alone is (`inputs[3]` ->
    `input[3]`)."""
    try:
        yield
    except (ServiceError, EncoderError, IndexError_) as exc:
        field = getattr(exc, "field", None) or ""
        for head in (re.match(r"[^\[.]+(?:\[\d+\])?", field), re.match(r"[^\[.]+", field)):
            if head is not None and head.group() in names:
                exc.field = names[head.group()] + field[head.end() :]
                break
        raise


class LimitExceeded(ServiceError):
    code = "limit_exceeded"


class NoEncoder(ServiceError):
    code = "no_encoder"


class UnsupportedInput(ServiceError):
    code = "unsupported_input"


class Overloaded(ServiceError):
    """A full queue: 429 with `Retry-After` (seconds) so clients back off instead of piling on."""

    code = "overloaded"

    def __init__(self, message: str, field: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class ShuttingDown(ServiceError):
    """Work queued when the service stops is failed cleanly (503), never left hanging."""

    code = "shutting_down"


class ClientGone(ServiceError):
    """The client left before its answer began; its work was dropped (logged 499, as nginx)."""

    code = "client_closed_request"

    def __init__(self, message: str = "the client left before its answer; work dropped") -> None:
        super().__init__(message)


class EncoderChanged(ServiceError):
    """The encoder now serves other weights than a collection's vectors came from."""

    code = "encoder_changed"


class Forbidden(ServiceError):
    """A read-only API key on a route declared write."""

    code = "forbidden"


STATUS_BY_ERROR: dict[type[Exception], int] = {
    EncoderNotFound: 404,
    CollectionNotFound: 404,
    PointNotFound: 404,
    PayloadIndexNotFound: 404,
    PlotNotFound: 404,
    Forbidden: 403,
    CollectionExists: 409,
    ArtifactMissing: 409,  # a trained encoder not trained yet: the message names the command
    ExtraMissing: 409,  # a built-in whose pip extra is not installed: the message names the line
    NotEnoughPoints: 409,
    EncoderChanged: 409,  # old and new vectors would mix: the message names `nestvec reindex`
    Overloaded: 429,
    ShuttingDown: 503,
    ClientGone: 499,
    IndexBackendUnavailable: 503,  # Milvus unreachable or unconfigured: retry later
    CollectionUnavailable: 503,  # its store could not be read at start-up: repair, restart
    ArtifactUnreadable: 503,  # a trained encoder's files do not load: retrain or restore
    InputTooLarge: 413,  # a decompression-bomb image: over the encoder's pixel cap
    UnsupportedFormat: 415,
    EncoderError: 422,
    AnalysisError: 422,  # also an IndexError_; listed so the mapping reads explicitly
    IndexError_: 422,
    ServiceError: 422,
}
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


async def domain_error(_: Request, exc: Exception) -> JSONResponse:
    body = error_body(exc.code, exc.message, exc.field)  # type: ignore[attr-defined]
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=_status_of(exc), headers=headers)


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = _reported(exc.errors())
    loc = [p for p in first["loc"] if p != "body" and not _union_member(p)]
    detail = str((first.get("ctx") or {}).get("error", ""))  # json_body.parse_json names a key
    empty = first["type"] == "missing" and tuple(first["loc"]) == ("body",)  # Qdrant's "EOF"
    if first["type"] == "json_invalid" or empty:  # 400 as Qdrant's, TEI's and OpenAI's
        message = "request body is empty: send JSON" if empty else "request body is not valid JSON"
        if detail.startswith("duplicate key"):  # valid JSON, but a key twice: say which
            message = f"request body gives a key twice in one object: {detail}"
        return JSONResponse(error_body("invalid_json", message), 400)
    field = field_path(loc) or None
    said = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's own
    message = f"{field}: {said}" if field else said
    return JSONResponse(error_body("validation_error", message, field), status_code=422)


def _union_member(part: object) -> bool:
    """Whether a pydantic error location part names a member of a union (`str`, `list[str]`,
    `function-after[...]`, a model's class name such as `RankDocument`), not a field of the
    request (fields are snake_case)."""
    if not isinstance(part, str):
        return False
    # a class is CamelCase; a field may be all capitals (insertion-order's `M`)
    return (
        "[" in part
        or part in _PLAIN_TYPES
        or (part[:1].isupper() and part.isidentifier() and not part.isupper())
    )


_PLAIN_TYPES = frozenset({"str", "int", "float", "bool", "bytes", "none"})


def _reported(errors: Sequence[Any]) -> Any:
    """The error to report: the first, or where it is one member of a union failing, the member
    that got furthest into the value (`input: ["ok", null]`: the list member's item 1, not
    "not a string")."""
    first = errors[0]
    at = next((i for i, part in enumerate(first["loc"]) if _union_member(part)), None)
    if at is None:
        return first
    same = [e for e in errors if tuple(e["loc"][:at]) == tuple(first["loc"][:at])]
    return max(same, key=lambda e: len(e["loc"]))  # max keeps the first of equals


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if isinstance(exc.__cause__, ClientDisconnect):  # FastAPI's 400 for a body cut short
        return await domain_error(request, ClientGone())
    code = HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names only the first route on the path's methods
        headers["Allow"] = ", ".join(allowed_methods(request))
    body = error_body(code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=headers or None)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves fully on the request's path (HEAD wherever GET is)."""
    methods = set()
    for method in ("DELETE", "GET", "PATCH", "POST", "PUT"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


async def storage_error(request: Request, exc: Exception) -> JSONResponse:
    """503 `storage_unavailable` for a disk that refuses writes (a failed SQLite transaction
    is rolled back, a failed create or delete leaves the collection as it was); any other
    OSError or SQLite error is unexpected."""
    problem = storage_problem(exc)
    if problem is None and damaged_store(exc):  # found by a read past start-up's checks
        log.error("a collection's store is damaged: %s", exc)
        message = (
            f"this collection's store is damaged ({exc}); restore store.sqlite3 from a backup "
            "and restart"
        )
        return JSONResponse(error_body("collection_unavailable", message), status_code=503)
    if problem is None:
        return await unexpected_error(request, exc)
    if descriptors.exhausted():  # SQLite's "unable to open database file", or EMFILE itself
        log.error("out of file descriptors (limit %d): %s", descriptors.limit(), exc)
        message = (
            f"the server has too many open files (limit {descriptors.limit()}); nothing was "
            "changed: retry, or raise its limit (ulimit -n)"
        )
        return JSONResponse(error_body("storage_unavailable", message), status_code=503)
    log.error("the data directory refused a write: %s", exc)
    message = f"the server could not write to its data directory ({problem}); nothing was changed"
    return JSONResponse(error_body("storage_unavailable", message), status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; every error leaves the service as `{code, message, field}`."""
    for exc_type in (EncoderError, IndexError_, ServiceError, ExtraMissing):
        app.add_exception_handler(exc_type, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    for exc_type in (OSError, sqlite3.Error):
        app.add_exception_handler(exc_type, storage_error)
    app.add_exception_handler(Exception, unexpected_error)
    for exc_type, handler in list(app.exception_handlers.items()):
        app.exception_handlers[exc_type] = api_shaped(handler)


def json_dumps(content: Any) -> bytes:
    return json.dumps(content, separators=(",", ":"), allow_nan=False).encode()

"""Small ASGI helpers shared by the middleware modules."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.envelopes import peer_fields


async def reject(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    auth: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with the service's JSON error body without calling the app; on a Qdrant path, in
    Qdrant's shape, as the app's own errors there (service.errors.api_shaped)."""
    if is_qdrant_path(scope["path"], scope.get("method", "GET")):
        content: dict[str, object] = {"status": {"error": message}, "time": 0.0}
    else:  # on OpenAI's and TEI's routes with the fields their clients read, as the app's
        content = {"code": code, "message": message, "field": None}
        content |= peer_fields(_template(scope["path"]), status, content)
    body = json.dumps(content).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if auth:
        raw.append((b"www-authenticate", b"Bearer"))
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _template(path: str) -> str:
    """The route template of a raw path, for the one peer route with a parameter."""
    return "/v1/models/{name}" if path.startswith("/v1/models/") else path


def is_qdrant_path(path: str, method: str = "GET") -> bool:
    """Whether `path` is one of the Qdrant-compatible routes' (service.qdrant): its root (GET;
    a POST there is TEI's embed) and what lies under /collections and /aliases."""
    if path == "/":
        return method in ("GET", "HEAD")
    return path.startswith(("/collections", "/aliases"))


class HeadAsGet:
    """HEAD answered as the GET of the same path without its body (RFC 9110: what serves GET
    serves HEAD; FastAPI's routes answered 405). HEAD on a route without GET stays a 405 that
    names the methods allowed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_headers_only)
        finally:  # the matched route, for the request log's metrics (the router sets it)
            if "route" in as_get:
                scope["route"] = as_get["route"]


class AnswerWhenCut:
    """A request still running when the shutdown grace period (NESTVEC_SHUTDOWN_GRACE_S) ends is
    cancelled by uvicorn: it is answered 503 `shutting_down` in the service's JSON, the
    connection closed (uvicorn wrote a text/plain 500 and logged the cancel as a traceback). An
    answer already under way is cut as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if started or task is None:
                raise
            task.uncancel()  # the cancel ends here, answered: the server is stopping anyway
            message = "the service stopped before this request finished; retry"
            closing = {"Connection": "close"}
            await reject(scope, send, 503, "shutting_down", message, headers=closing)

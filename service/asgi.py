"""Small ASGI helpers shared by the middleware modules."""

from __future__ import annotations

import json

from starlette.types import Scope, Send


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
    Qdrant's shape, as the app's own errors there (service.errors.qdrant_shaped)."""
    if is_qdrant_path(scope["path"]):
        content: dict[str, object] = {"status": {"error": message}, "time": 0.0}
    else:
        content = {"code": code, "message": message, "field": None}
    body = json.dumps(content).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if auth:
        raw.append((b"www-authenticate", b"Bearer"))
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def is_qdrant_path(path: str) -> bool:
    """Whether `path` is one of the Qdrant-compatible routes' (service.qdrant): its root and
    what lies under /collections and /aliases."""
    return path == "/" or path.startswith(("/collections", "/aliases"))

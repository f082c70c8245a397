"""Small ASGI helpers shared by the middleware modules."""

from __future__ import annotations

import json

from starlette.types import Send


async def reject(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    auth: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with the service's JSON error body without calling the app."""
    body = json.dumps({"code": code, "message": message, "field": None}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if auth:
        raw.append((b"www-authenticate", b"Bearer"))
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

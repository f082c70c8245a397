"""API-key authentication: full keys may do anything, read-only keys may only read and search.

Keys come from settings (`NESTVEC_API_KEYS`, `NESTVEC_READ_ONLY_KEYS`, JSON lists); with none
configured the service is open, as a local embedded default should be. Health probes and
/metrics stay open.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from service.asgi import reject

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"})
# POST routes that only read: a read-only key may call them.
READ_POST_SUFFIXES = (
    "/search",
    "/search/batch",
    "/count",
    "/embed",
    "/embeddings",
    "/rank",
    "/recommend",
)
READ_POST_MARKERS = ("/analysis/",)


def presented_key(scope: Scope) -> str | None:
    """The key from `Authorization: Bearer KEY` or `api-key: KEY`."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    key = headers.get(b"api-key")
    return key.decode("latin-1") if key is not None else None


def matches(key: str, candidates: list[str]) -> bool:
    """Constant-time comparison against every candidate (no early exit on a match)."""
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(key.encode(), candidate.encode())
    return found


def is_read(method: str, path: str) -> bool:
    if method in ("GET", "HEAD", "OPTIONS"):
        return True
    return method == "POST" and (
        path.endswith(READ_POST_SUFFIXES) or any(m in path for m in READ_POST_MARKERS)
    )


class ApiKeyAuth:
    """ASGI middleware answering 401 (no or unknown key) and 403 (read-only key writing)."""

    def __init__(self, app: ASGIApp, keys: list[str], read_only_keys: list[str]) -> None:
        self.app, self.keys, self.read_only_keys = app, keys, read_only_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        key = presented_key(scope)
        if key is None:
            return await reject(send, 401, "unauthorized", "missing API key", auth=True)
        if matches(key, self.keys):
            scope.setdefault("state", {})["api_key"] = key
            return await self.app(scope, receive, send)
        if not matches(key, self.read_only_keys):
            return await reject(send, 401, "unauthorized", "unknown API key", auth=True)
        if not is_read(scope["method"], scope["path"]):
            return await reject(send, 403, "forbidden", "this API key may only read")
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)

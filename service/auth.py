"""API-key authentication and the read/write access each route declares.

Keys come from settings (`NESTVEC_API_KEYS`, `NESTVEC_READ_ONLY_KEYS`); with none configured the
service is open, as a local embedded default should be. The middleware only authenticates (401);
whether a route reads or writes is declared on the route itself with `ReadAccess` or
`WriteAccess` (service/deps.py), so no URL pattern has to guess it. Health probes and the API
docs stay open; /metrics takes any key (it names the collections and their sizes), as Qdrant's.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.asgi import reject
from service.errors import Forbidden
from service.limits import TokenBucket, address_key, throttled

# the API's shape is no secret (TEI and Qdrant serve theirs open); its data needs a key
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/livez",
        "/readyz",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)


def presented_key(scope: Scope) -> str | None:
    """The key from `Authorization: Bearer KEY` or `api-key: KEY`; an empty one is no key."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    key = headers.get(b"api-key")
    return key.decode("latin-1") or None if key is not None else None


def matches(key: str, candidates: list[str]) -> bool:
    """Constant-time comparison against every candidate (no early exit on a match)."""
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(key.encode(), candidate.encode())
    return found


# async: FastAPI runs a sync dependency in the thread pool, a hop that costs more than the check
async def require_read(request: Request) -> None:
    """Declares a read route: any accepted key may call it (the middleware has checked it)."""


async def require_write(request: Request) -> None:
    """Declares a write route: a read-only key gets 403 `forbidden`."""
    if getattr(request.state, "read_only", False):
        raise Forbidden("this API key may only read")


ACCESS_DECLARATIONS = (require_read, require_write)


class ApiKeyAuth:
    """ASGI middleware answering 401 to no or an unknown key; marks read-only keys in the state."""

    def __init__(
        self,
        app: ASGIApp,
        keys: list[str],
        read_only_keys: list[str],
        failures: TokenBucket | None = None,
    ) -> None:
        self.app, self.keys, self.read_only_keys = app, keys, read_only_keys
        # refusals per client address, under the rate limit: the limit keys requests by their
        # key, so guesses (each an unknown key) went unthrottled
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        key = presented_key(scope)
        if key is not None and matches(key, self.keys):
            read_only = False
        elif key is not None and matches(key, self.read_only_keys):
            read_only = True
        else:
            return await self._refuse(scope, send, "unknown" if key else "missing")
        state = scope.setdefault("state", {})
        state["api_key"], state["read_only"] = key, read_only
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, what: str) -> None:
        if self.failures and await throttled(self.failures, address_key(scope), scope, send):
            return
        await reject(scope, send, 401, "unauthorized", f"{what} API key", auth=True)

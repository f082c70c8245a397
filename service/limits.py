"""Request limits enforced before the app runs: body size (413) and per-key rate (429)."""

from __future__ import annotations

import math
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.asgi import reject


class BodySizeLimit:
    """413 for bodies over `max_bytes`, by Content-Length or while streaming a chunked body;
    415 for a body in a content coding (gzip): nothing here decodes one, and read as it came it
    was a 400 `invalid_json` that sent clients to debug their JSON (RFC 9110 §8.4.1)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw = scope.get("headers") or []
        headers = dict(raw)
        codings = {v.strip().lower() for k, v in raw if k == b"content-encoding"}  # each one
        has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
        if codings - {b"", b"identity"} and has_body:  # a session default on a GET is fine
            message = "request bodies are not decoded: send them without Content-Encoding"
            return await reject(scope, send, 415, "unsupported_media_type", message)
        length = headers.get(b"content-length")
        if (
            length is not None
            and length.isascii()
            and length.isdigit()
            and int(length) > self.max_bytes
        ):
            return await reject(scope, send, 413, "too_large", self._message())
        seen, over, replied = 0, False, False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                over = True
                raise _TooLarge
            return message

        async def answer(message: Message) -> None:
            # a parser that caught the overflow (multipart's) answers its own 400: replaced
            nonlocal replied
            if not over:
                await send(message)
            elif not replied:
                replied = True
                await reject(scope, send, 413, "too_large", self._message())

        try:
            await self.app(scope, counted, answer)
        except _TooLarge:
            if not replied:
                await reject(scope, send, 413, "too_large", self._message())

    def _message(self) -> str:
        return f"request body over {self.max_bytes} bytes"


class _TooLarge(Exception):
    pass


class TokenBucket:
    """`rate` requests per second with bursts of `burst`, per key."""

    PRUNE_PAST = 10_000  # keys held before those refilled to a full burst are forgotten

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a request may go now, else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            if len(self._state) > self.PRUNE_PAST:  # one key per address: it grew without end
                self._prune(now)
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget keys whose bucket is full again: forgetting them changes nothing."""
        full = [
            k for k, (t, last) in self._state.items() if t + (now - last) * self.rate >= self.burst
        ]
        for key in full:
            del self._state[key]


def per_minute_bucket(per_minute: int) -> TokenBucket:
    """`per_minute` requests a minute per key, in bursts of a sixth of them."""
    return TokenBucket(per_minute / 60, burst=max(1, per_minute // 6))


PROBES = ("/healthz", "/livez", "/readyz", "/metrics")  # never throttled (a failed probe restarts)


class RateLimit:
    """429 with Retry-After once a key (or, without auth, a client address) exceeds its rate."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.bucket = per_minute_bucket(per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            return await self.app(scope, receive, send)
        key = (scope.get("state") or {}).get("api_key") or address_key(scope)
        if not await throttled(self.bucket, key, scope, send):
            await self.app(scope, receive, send)


def address_key(scope: Scope) -> str:
    """The rate-limit key of a request without a (valid) API key: its client address."""
    client = scope.get("client") or ("-", 0)
    return f"addr:{client[0]}"


async def throttled(bucket: TokenBucket, key: str, scope: Scope, send: Send) -> bool:
    """Take one request of `key` from `bucket`; past its rate, answer 429 with Retry-After."""
    wait = bucket.take(key)
    if wait <= 0:
        return False
    retry = {"Retry-After": str(math.ceil(wait))}
    await reject(scope, send, 429, "rate_limited", "too many requests", headers=retry)
    return True

"""The Python client of nestvec's v1 REST API, sync (`Client`) and async (`AsyncClient`).

    from nestvec.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as nv:
        nv.create_collection("docs", encoder="minilm")
        nv.upload_points("docs", ({"id": i, "text": t} for i, t in enumerate(texts)))
        hits = nv.search("docs", "how do cats purr?", k=5)

Every method of `Client` is a coroutine method of `AsyncClient` with the same arguments. Error
answers raise `NestvecError` subclasses carrying the service's `code`, `message`, `field` and
`status`; 429 (honouring `Retry-After`), 503 and failed connects are retried within the bounds
of `Retry`, and 502, 504 and lost answers for calls safe to send twice (GET, PUT, DELETE and the
POSTs that only read).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from types import TracebackType
from typing import Any, TypeVar

import httpx
from tqdm import tqdm

from nestvec._api import Api, PointLike, QueryLike, to_point, to_query
from nestvec._model_api import FileLike
from nestvec._transport import (
    NO_RETRY,
    AuthError,
    BadRequest,
    Call,
    Conflict,
    NestvecError,
    NotFound,
    Overloaded,
    Retry,
    ServerError,
    Unavailable,
    final,
    finite_json,
    next_wait,
    refused_as_bad_request,
)
from service.schemas.points import UpsertRequest

__all__ = [
    "NO_RETRY",
    "AsyncClient",
    "AuthError",
    "BadRequest",
    "Client",
    "Conflict",
    "FileLike",
    "NestvecError",
    "NotFound",
    "Overloaded",
    "PointLike",
    "QueryLike",
    "Retry",
    "ServerError",
    "Unavailable",
    "to_query",
]

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_BATCH = 256


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one shorter); reads the iterable lazily."""
    if size < 1:  # as the server's own refusals are raised (it was a bare ValueError)
        raise BadRequest("validation_error", "batch_size must be at least 1", "batch_size", None)
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _headers(api_key: str | None) -> dict[str, str]:
    """The key's header; one no header can carry (the server's keys are printable ASCII) is
    refused here, not retried for 15 s as a connection error."""
    if api_key and not (api_key.isascii() and api_key.isprintable()):
        message = "an API key is printable ASCII (it is sent in a header)"
        raise BadRequest("validation_error", message, "api_key", None)
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _bar(name: str, points: Iterable[Any], total: int | None, progress: bool) -> tqdm[Any]:
    if total is None and hasattr(points, "__len__"):
        total = len(points)
    return tqdm(total=total, unit="points", desc=f"upload {name}", disable=not progress)


@refused_as_bad_request  # upload_points: its own methods, beside Api's
class Client(Api):
    """A synchronous client; pass `http` to reuse an `httpx.Client` (a TestClient works too)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,  # an upsert of texts is encoded before it is acknowledged
        retry: Retry = Retry(),  # noqa: B008 - frozen, shared safely
        http: httpx.Client | None = None,
    ) -> None:
        self.retry, self._headers = retry, _headers(api_key)
        self._own = http is None
        self._http = http or httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def _call(self, call: Call[T]) -> T:
        if call.unsent:
            return call.parse(None)  # type: ignore[arg-type]
        attempt, waited = 0, 0.0
        while True:
            got: httpx.Response | httpx.TransportError
            try:
                with finite_json():
                    got = self._http.request(
                        call.method, call.path, headers=self._headers, **call.send_args()
                    )
            except httpx.TransportError as exc:
                got = exc
            delay = next_wait(call, self.retry, attempt, waited, got)
            if delay is None:
                return final(call, got, self._http.base_url)
            time.sleep(delay)
            attempt, waited = attempt + 1, waited + delay

    def upload_points(
        self,
        name: str,
        points: Iterable[PointLike],
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: bool = True,
        total: int | None = None,
    ) -> int:
        """Upsert any number of points, `batch_size` per request, with a progress bar."""
        upserted = 0
        with _bar(name, points, total, progress) as bar:
            for batch in batches(points, batch_size):
                req = UpsertRequest(points=[to_point(p) for p in batch])
                upserted += self._call(self._upsert(name, req))
                bar.update(len(batch))
        return upserted

    def close(self) -> None:
        """Close the connection pool (not one passed in as `http`)."""
        if self._own:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@refused_as_bad_request
class AsyncClient(Api):
    """The asyncio client: the methods of `Client`, each a coroutine."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        retry: Retry = Retry(),  # noqa: B008 - frozen, shared safely
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.retry, self._headers = retry, _headers(api_key)
        self._own = http is None
        self._http = http or httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout)

    async def _call(self, call: Call[T]) -> T:  # type: ignore[override]
        if call.unsent:
            return call.parse(None)  # type: ignore[arg-type]
        attempt, waited = 0, 0.0
        while True:
            got: httpx.Response | httpx.TransportError
            try:
                with finite_json():
                    got = await self._http.request(
                        call.method, call.path, headers=self._headers, **call.send_args()
                    )
            except httpx.TransportError as exc:
                got = exc
            delay = next_wait(call, self.retry, attempt, waited, got)
            if delay is None:
                return final(call, got, self._http.base_url)
            await asyncio.sleep(delay)
            attempt, waited = attempt + 1, waited + delay

    async def upload_points(
        self,
        name: str,
        points: Iterable[PointLike],
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: bool = True,
        total: int | None = None,
    ) -> int:
        """Upsert any number of points, `batch_size` per request, with a progress bar."""
        upserted = 0
        with _bar(name, points, total, progress) as bar:
            for batch in batches(points, batch_size):
                req = UpsertRequest(points=[to_point(p) for p in batch])
                upserted += await self._call(self._upsert(name, req))
                bar.update(len(batch))
        return upserted

    async def aclose(self) -> None:
        """Close the connection pool (not one passed in as `http`)."""
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

"""Work for a client that has disconnected is dropped, as TEI drops a request's future.

`WatchClient` (ASGI middleware) gives each request that may queue encode work a `Watch` in a
context variable, which worker threads inherit. `EncodeBatcher.submit` registers its jobs there
(`track`). The first job starts one task that waits on the connection: when the client leaves
before its answer has begun, every job of the request is abandoned. A queued job is then dropped
unencoded, and a running one stops after its current model call unless it shares that call with
another client's job. The request ends as `ClientGone` (logged 499), answered to nobody.

Without this, clients that time out and retry leave their abandoned requests in the queue, and
an overloaded server spends its time on answers no one reads. Requests that queue no encode work
pay one context-variable set and a wrapped `send`; no task is started for them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from contextvars import ContextVar
from typing import Protocol, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ClientGone

T = TypeVar("T")
_WATCH: ContextVar[Watch | None] = ContextVar("nestvec_client_watch", default=None)
_WATCHED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # the ones that encode


class Abandonable(Protocol):
    def abandon(self) -> None:
        """Stop caring for the result: cancel it if not started, mark it to stop if running."""
        ...


class Watch:
    """One request's encode jobs and whether its client is gone (read from any thread)."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self._receive, self._loop = receive, loop
        self._lock = threading.Lock()
        self._jobs: list[Abandonable] = []
        self._task: asyncio.Task[None] | None = None
        self._watching = self._answered = self._gone = False

    @property
    def gone(self) -> bool:
        return self._gone

    def add(self, job: Abandonable) -> None:
        with self._lock:
            gone, start = self._gone, not self._watching
            if not gone:
                self._jobs.append(job)
                self._watching = True
        if gone:
            job.abandon()
        elif start:  # from a worker thread too: the task runs on the request's loop
            self._loop.call_soon_threadsafe(self._start)

    def answered(self) -> None:
        with self._lock:
            self._answered = True

    def close(self) -> None:
        self.answered()
        if self._task is not None:
            self._task.cancel()

    def _start(self) -> None:
        if not self._answered:
            self._task = self._loop.create_task(self._wait())

    async def _wait(self) -> None:
        # the body is read by now (it was validated before any job); what comes next is the
        # disconnect, when the client leaves or once the answer is complete
        while (await self._receive())["type"] != "http.disconnect":
            pass
        with self._lock:
            if self._answered:
                return
            self._gone = True
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.abandon()


def track(job: Abandonable) -> None:
    """Register a job with the current request, if a watched one is running."""
    watch = _WATCH.get()
    if watch is not None:
        watch.add(job)


def client_gone() -> bool:
    watch = _WATCH.get()
    return watch is not None and watch.gone


def waited(future: concurrent.futures.Future[T]) -> T:
    """A job's result, blocking; `ClientGone` when it was dropped because the client left."""
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        if client_gone():
            raise ClientGone() from None
        raise


async def awaited(future: concurrent.futures.Future[T]) -> T:
    """A job's result on the event loop; `ClientGone` when it was dropped because the client
    left (a cancel of the awaiting task itself, as at shutdown, stays a cancel)."""
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        if future.cancelled() and client_gone():
            raise ClientGone() from None
        raise


class WatchClient:
    """Gives each request that may encode a `Watch` (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WATCHED_METHODS:
            await self.app(scope, receive, send)
            return
        watch = Watch(receive, asyncio.get_running_loop())

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                if watch.gone:  # encoded in a call shared with others: the answer reaches nobody
                    message = {**message, "status": 499}
                watch.answered()  # from here the client is owed the rest of this answer
            await send(message)

        token = _WATCH.set(watch)
        try:
            await self.app(scope, receive, send_noting)
        finally:
            _WATCH.reset(token)
            watch.close()

"""Retries, error bodies and the API key header, against a small real uvicorn server on loopback
that answers 429/503 (with `Retry-After`) a set number of times before 200."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from support import free_port

from nestvec.client import (
    AsyncClient,
    AuthError,
    BadRequest,
    Client,
    NestvecError,
    Overloaded,
    Retry,
    ServerError,
    Unavailable,
)

BUSY = {"code": "overloaded", "message": "encode queue full", "field": None}


class FlakyServer:
    """`/busy/{n}/{status}/{after}`: `status` n times (Retry-After `after`, '-' for none), then
    200 with the attempt count. `/echo`: the Authorization header. Upserts record their ids.
    Others answer odd errors."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.batches: list[list[str]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        routes = [
            Route("/busy/{n:int}/{status:int}/{after}", self.busy, methods=["GET", "POST"]),
            Route("/echo", self.echo),
            Route("/v1/collections/{name}/points", self.points, methods=["PUT"]),
            Route("/v1/collections", self.gateway, methods=["POST"]),
            Route("/v1/collections/{name}/count", self.gateway, methods=["POST"]),
            Route("/teapot", lambda _: PlainTextResponse("no json here", 500)),
            Route("/proxy-page", lambda _: PlainTextResponse("<html>hi</html>", 200)),
            Route("/forbidden", lambda _: JSONResponse({**BUSY, "code": "forbidden"}, 403)),
        ]
        config = uvicorn.Config(Starlette(routes=routes), port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def busy(self, request: Request) -> JSONResponse:
        key = request.url.path
        self.calls[key] += 1
        p = request.path_params
        if self.calls[key] <= p["n"]:
            headers = {} if p["after"] == "-" else {"Retry-After": p["after"]}
            return JSONResponse(BUSY, p["status"], headers=headers)
        return JSONResponse({"status": "ok", "attempts": self.calls[key]})

    async def points(self, request: Request) -> JSONResponse:
        points = (await request.json())["points"]
        self.batches.append([p["id"] for p in points])
        return JSONResponse({"upserted": len(points)})

    async def gateway(self, request: Request) -> JSONResponse:
        """A proxy that timed out waiting the first time (the server may have acted), then the
        answer: 504 once, then 200."""
        key = request.url.path
        self.calls[key] += 1
        if self.calls[key] == 1:
            return JSONResponse({"code": "gateway_timeout", "message": "upstream"}, 504)
        if key == "/v1/collections/c/count":
            return JSONResponse({"count": 3})
        return JSONResponse({"code": "conflict", "message": "exists", "field": "name"}, 409)

    async def echo(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": request.headers.get("authorization")})

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def flaky() -> Iterator[FlakyServer]:
    with FlakyServer() as server:
        yield server


def _get(client: Client, path: str) -> dict[str, object]:
    from nestvec._transport import Call

    return client._call(Call("GET", path, lambda r: r.json()))


def test_429_is_retried_after_the_servers_retry_after(flaky: FlakyServer) -> None:
    with Client(flaky.url, retry=Retry(backoff=0.01)) as nv:
        started = time.monotonic()
        answer = _get(nv, "/busy/2/429/1")
        elapsed = time.monotonic() - started
    assert answer == {"status": "ok", "attempts": 3}
    assert 2.0 <= elapsed < 5.0  # two waits of Retry-After: 1, not the 0.01 s backoff


def test_503_without_retry_after_backs_off_and_recovers(flaky: FlakyServer) -> None:
    with Client(flaky.url, retry=Retry(backoff=0.05)) as nv:
        assert _get(nv, "/busy/3/503/-") == {"status": "ok", "attempts": 4}


def test_retries_are_bounded_by_attempts_then_raise_with_the_code(flaky: FlakyServer) -> None:
    nv = Client(flaky.url, retry=Retry(attempts=3, backoff=0.01))
    with nv, pytest.raises(Overloaded) as caught:
        _get(nv, "/busy/10/429/0")
    assert flaky.calls["/busy/10/429/0"] == 3
    err = caught.value
    assert (err.code, err.status, err.message) == ("overloaded", 429, "encode queue full")


def test_a_retry_after_past_the_total_wait_budget_fails_at_once(flaky: FlakyServer) -> None:
    with Client(flaky.url, retry=Retry(max_total_wait=5)) as nv:
        started = time.monotonic()
        with pytest.raises(Overloaded):
            _get(nv, "/busy/1/429/60")
    assert time.monotonic() - started < 2
    assert flaky.calls["/busy/1/429/60"] == 1


def test_an_unreachable_server_raises_unavailable_after_the_retries() -> None:
    # nothing listens on this port: the connect error is retried (the request never left)
    url = f"http://127.0.0.1:{free_port()}"
    nv = Client(url, retry=Retry(attempts=3, backoff=0.01))
    with nv, pytest.raises(Unavailable) as caught:
        nv.health()
    assert caught.value.code == "connection_error" and caught.value.status is None


def test_error_bodies_become_typed_exceptions(flaky: FlakyServer) -> None:
    with Client(flaky.url, retry=Retry(attempts=1)) as nv:
        with pytest.raises(AuthError) as denied:
            _get(nv, "/forbidden")
        with pytest.raises(ServerError) as broken:
            _get(nv, "/teapot")
    assert (denied.value.code, denied.value.status) == ("forbidden", 403)
    assert (broken.value.code, broken.value.status) == ("http_500", 500)
    assert broken.value.message == "no json here"
    assert isinstance(broken.value, NestvecError)


def test_what_can_never_be_sent_or_read_fails_at_once_as_a_nestvec_error(
    flaky: FlakyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL without its scheme was retried for 15 s as a connection error, a key no header can
    carry too (or raised a bare UnicodeEncodeError); a 200 that is no JSON (a proxy's page)
    raised json's own JSONDecodeError."""
    waits: list[float] = []
    monkeypatch.setattr("nestvec.client.time.sleep", waits.append)  # a retry's backoff
    with Client(flaky.url.removeprefix("http://")) as nv, pytest.raises(Unavailable):
        _get(nv, "/echo")
    assert waits == []  # sent once
    for key in ("a\nb", "ключ"):
        with pytest.raises(BadRequest) as bad:
            Client(flaky.url, api_key=key)
        assert bad.value.field == "api_key"
    with Client(flaky.url) as nv, pytest.raises(ServerError) as odd:
        _get(nv, "/proxy-page")
    assert odd.value.code == "invalid_response" and odd.value.status == 200


def test_api_key_is_sent_as_a_bearer_token(flaky: FlakyServer) -> None:
    with Client(flaky.url, api_key="s3cret") as nv:
        assert _get(nv, "/echo") == {"status": "Bearer s3cret"}
    with Client(flaky.url) as nv:
        assert _get(nv, "/echo") == {"status": None}


def test_async_client_retries_too(flaky: FlakyServer) -> None:
    from nestvec._transport import Call

    async def go() -> object:
        async with AsyncClient(flaky.url, api_key="k", retry=Retry(backoff=0.01)) as nv:
            return await nv._call(Call("POST", "/busy/2/503/0", lambda r: r.json()))

    assert asyncio.run(go()) == {"status": "ok", "attempts": 3}


def test_upload_points_sends_batches_with_a_progress_bar(
    flaky: FlakyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    flaky.batches.clear()
    points = ({"id": i, "vector": [float(i), 1.0]} for i in range(250))  # a generator: no len
    with Client(flaky.url) as nv:
        assert nv.upload_points("c", points, batch_size=100, total=250) == 250
    assert [len(b) for b in flaky.batches] == [100, 100, 50]
    assert [i for b in flaky.batches for i in b] == list(range(250))
    bar = capsys.readouterr().err
    assert "upload c" in bar and "250/250" in bar
    flaky.batches.clear()
    with Client(flaky.url) as nv:
        assert nv.upload_points("c", [{"id": "a", "text": "x"}], progress=False) == 1
    assert flaky.batches == [["a"]] and capsys.readouterr().err == ""


def test_a_gateway_timeout_is_sent_again_only_for_calls_that_change_nothing(
    flaky: FlakyServer,
) -> None:
    """A 504 may come after the server created the collection: sending it again would answer
    409 for the caller's own collection. A count (a POST that only reads) is sent again."""
    with Client(flaky.url, retry=Retry(backoff=0.01)) as nv:
        with pytest.raises(Unavailable) as caught:
            nv.create_collection("c", dim=2)
        assert nv.count("c") == 3
    assert (caught.value.status, flaky.calls["/v1/collections"]) == (504, 1)
    assert flaky.calls["/v1/collections/c/count"] == 2


def test_waits_spread_past_retry_after_within_the_budget() -> None:
    """Every client told `Retry-After: 2` came back at the same instant, and met a full queue
    again together: the wait is now 2 to 2.5 s, never sooner, and never past the budget."""
    waits = [Retry().wait(0, 0.0, 2.0) for _ in range(200)]
    assert all(w is not None and 2.0 <= w <= 2.5 for w in waits)
    assert len(set(waits)) > 100  # spread, not one instant
    assert Retry(jitter=0).wait(0, 0.0, 2.0) == 2.0
    tight = Retry(max_total_wait=10)
    assert all(tight.wait(1, 7.9, 2.0) <= 2.1 for _ in range(50))  # type: ignore[operator]
    assert tight.wait(1, 8.5, 2.0) is None  # past the budget: given up

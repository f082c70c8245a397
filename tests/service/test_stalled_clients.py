"""A client that stalls while sending a request loses its connection after NESTVEC_READ_TIMEOUT_S;
one that sends steadily, however slowly, and the server's other clients are served as before.
(Each stalled socket was held for good: a few thousand of them used up the file descriptors.)"""

from __future__ import annotations

import json
import re
import select
import socket
import struct
import time
from collections.abc import Iterator

import httpx
import pytest
from support import LiveServer

TIMEOUT_S = 1.0
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("stall") / "data"
    live = LiveServer(data, env={"NESTVEC_READ_TIMEOUT_S": str(TIMEOUT_S)}).start()
    yield live
    live.stop()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the socket (recv gives b"" or a reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _whole_answer(sock: socket.socket) -> bytes:
    """One response read to the end of its body (its head and body may come in two reads)."""
    return _answers(sock, 1)[0]


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """`count` responses read one after another from the socket (pipelined answers)."""
    buffered, found = b"", []
    while len(found) < count:
        head, mark, rest = buffered.partition(b"\r\n\r\n")
        if mark:
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            if len(rest) >= length:
                found.append(head + mark + rest[:length])
                buffered = rest[length:]
                continue
        buffered += _more(sock)
    return found


def _more(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection mid-answer"
    return chunk


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _ask(server: LiveServer, request: bytes) -> bytes:
    """The one answer to raw request bytes sent on a new connection."""
    with _connect(server) as sock:
        sock.sendall(request)
        return _whole_answer(sock)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # stops inside its headers
        b"POST /v1/collections HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n{",  # announces a body, sends one byte of it
    ],
    ids=["nothing", "half-headers", "half-body"],
)
def test_a_stalled_request_loses_its_connection(server: LiveServer, sent: bytes) -> None:
    with _connect(server) as sock:
        sock.sendall(sent)
        assert _closed_within(sock, TIMEOUT_S + 5)
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_a_body_sent_slowly_but_steadily_is_answered(server: LiveServer) -> None:
    body = json.dumps({"name": "slow", "dim": 2}).encode()
    head = (
        b"POST /v1/collections HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    with _connect(server) as sock:
        sock.sendall(head)
        pieces = [body[i : i + 8] for i in range(0, len(body), 8)]
        for piece in pieces:  # the whole body takes longer than the timeout, no pause does
            time.sleep(TIMEOUT_S * 0.4)
            sock.sendall(piece)
        assert len(pieces) * TIMEOUT_S * 0.4 > TIMEOUT_S
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]


def test_a_kept_alive_connection_idle_past_the_deadline_is_still_served(
    server: LiveServer,
) -> None:
    """Between requests the deadline sleeps: idling is uvicorn's keep-alive (5 s)."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(TIMEOUT_S + 1)
        assert client.get("/healthz").status_code == 200


def test_a_kept_alive_connection_whose_next_request_stalls_loses_it(server: LiveServer) -> None:
    """The first request's deadline is still pending when the second one starts and stalls:
    the connection is closed by the second request's deadline, not kept by the first's."""
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _whole_answer(sock).startswith(b"HTTP/1.1 200")
        time.sleep(TIMEOUT_S * 0.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # stops inside its headers
        started = time.monotonic()
        assert _closed_within(sock, TIMEOUT_S + 5)
        assert time.monotonic() - started >= TIMEOUT_S * 0.9  # not the first request's deadline


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: " + b"a" * 1_000_000,
        # whole heads of 64-128 KiB in one write were served: the read ending a head went
        # uncounted; a request line that long was uvicorn's plain-text 400
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: " + b"a" * 66_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: " + b"a" * 120_000 + b"\r\n\r\n",
        b"GET /v1/collections/" + b"a" * 90_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_a_head_past_the_cap_gets_431_and_one_under_it_is_served(
    server: LiveServer, head: bytes
) -> None:
    """httptools buffered a request line and headers of any size (48 MB was read whole)."""
    with _connect(server) as sock:
        sock.sendall(head)
        answer = _whole_answer(sock)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        assert b'"code":"headers_too_large"' in answer
        assert _closed_within(sock, 5)
    under = b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: " + b"a" * 60_000 + b"\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(under)
        assert _whole_answer(sock).startswith(b"HTTP/1.1 200")


def test_a_pipelined_head_after_a_large_body_is_not_counted_with_it(server: LiveServer) -> None:
    """A read may end one request's body and start the next head: only head bytes count."""
    body = json.dumps({"name": "piped", "dim": 2, "payload_indexes": {}, "x": "a" * 200_000})
    first = (
        b"POST /v1/collections HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body.encode())
    )
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: " + b"a" * 60_000 + b"\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(first + second)
        statuses = [a.split(b" ", 2)[1] for a in _answers(sock, 2)]
    assert statuses == [b"422", b"200"]  # the body's unknown field "x"; the head under the cap


@pytest.mark.parametrize("size", [75_000, 300_000])
def test_large_bodies_are_never_taken_for_a_head(server: LiveServer, size: int) -> None:
    """The read ending a body came after the message was complete: it was counted as the next
    head's, and a body past 64 KiB got 431 (its points written all the same)."""
    body = json.dumps({"points": [{"id": "a", "vector": [1.0, 0.0], "payload": {"x": "a" * size}}]})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/v1/collections", json={"name": f"big{size}", "dim": 2})
        statuses = [
            client.put(f"/v1/collections/big{size}/points", content=body, headers=JSON).status_code
            for _ in range(10)
        ]
    assert statuses == [200] * 10


def test_a_client_gone_mid_form_is_no_server_error(server: LiveServer) -> None:
    """`whole_form` let ClientDisconnect through: a 500 and a traceback per aborted upload."""
    head = (
        b"POST /v1/embed/upload HTTP/1.1\r\nHost: x\r\ncontent-length: 2000000\r\n"
        b"content-type: multipart/form-data; boundary=XyZ\r\n\r\n--XyZ\r\n"
        b'content-disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
    )
    for _ in range(3):
        with _connect(server) as sock:
            sock.sendall(head + b"a" * 100_000)
            time.sleep(0.2)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    time.sleep(1)
    metrics = httpx.get(server.url + "/metrics", timeout=10).text
    upload = [line for line in metrics.splitlines() if 'route="/v1/embed/upload"' in line]
    assert any('status="499"' in line for line in upload), upload  # client closed request
    assert not any('status="500"' in line for line in upload), upload


def test_an_empty_content_type_is_415_as_a_missing_one(server: LiveServer) -> None:
    request = (
        b"POST /v1/collections/none/count HTTP/1.1\r\nHost: x\r\ncontent-type: \r\n"
        b"content-length: 2\r\n\r\n{}"
    )
    answer = _ask(server, request)
    assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    assert b'"code":"unsupported_media_type"' in answer


def test_sigterm_cuts_a_trickling_request_after_the_grace_period(
    tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client sending its body a byte at a time (never stalling past the read timeout) held
    the server's exit for good: its snapshots unwritten until SIGKILL. Cut, it was answered a
    text/plain 500 and the cancel logged as a traceback: now 503 `shutting_down` in JSON."""
    data = tmp_path_factory.mktemp("grace") / "data"
    env = {"NESTVEC_READ_TIMEOUT_S": "30", "NESTVEC_SHUTDOWN_GRACE_S": "1"}
    live = LiveServer(data, env=env).start()
    assert live.proc is not None
    sock = socket.create_connection(("127.0.0.1", live.port))
    head = "PUT /v1/collections/c/points HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    sock.sendall(f"{head}content-length: 1000\r\n\r\n{{".encode())
    for _ in range(3):  # the request is under way, its body coming slowly
        time.sleep(0.3)
        sock.sendall(b" ")
    live.proc.terminate()
    start = time.monotonic()
    try:
        while live.proc.poll() is None and time.monotonic() - start < 20:
            if not select.select([sock], [], [], 0)[0]:  # unanswered: bytes after an answer
                sock.sendall(b" ")  # would meet a reset; still sending, within the read timeout
            time.sleep(0.3)
        assert live.proc.poll() is not None, "the server still waits for the trickling client"
        assert time.monotonic() - start < 10
        sock.settimeout(5)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    finally:
        sock.close()
        live.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"application/json" in head, answer[:300]
    assert json.loads(body)["code"] == "shutting_down"
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"FOO /v1/embeddings HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/collections HTTP/1.1\r\nHost: x\r\ncontent-length: -5\r\n\r\n",
        b"POST /v1/collections HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n"
        b"content-length: 3\r\n\r\n{}",
        b"POST /v1/collections HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_bytes_that_are_no_http_request_get_a_json_400(
    server: LiveServer, request_bytes: bytes
) -> None:
    """uvicorn answered them in text/plain: every other error is the service's JSON."""
    answer = _ask(server, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, answer[:200]
    assert json.loads(body)["code"] == "bad_request"

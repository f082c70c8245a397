"""uvicorn's HTTP protocol with a read deadline, so a stalled client cannot hold a connection.

uvicorn times out a connection only while it idles between requests (keep-alive). A client that
connects and sends nothing, stops halfway through its headers, or stops sending a body it
announced held its socket (and the request's buffers) for good; a few thousand such clients use
up the process's file descriptors. As nginx's `client_header_timeout` and `client_body_timeout`:
the headers must arrive within the deadline of the connection opening or the request starting,
and a body may not pause longer than it between two reads. The request's handling is not timed.

uvicorn's httptools parser also buffers a request line and headers of any size (a 48 MB header
was read whole); past MAX_HEAD_BYTES the connection gets 431 and is closed.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# asyncio runs a timer up to its clock resolution early: such a wake-up is the deadline
_EARLY_S = 0.001
MAX_HEAD_BYTES = 64 * 1024  # request line and headers (nginx's default cap is 32 KB)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)
_TOO_LARGE_BODY = (
    b'{"code":"headers_too_large","message":"request line and headers over %d bytes",'
    b'"field":null}' % MAX_HEAD_BYTES
)


_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def stall_guarded(read_timeout_s: float) -> type[asyncio.Protocol]:
    """An HttpToolsProtocol that closes a connection when a request stalls for read_timeout_s."""

    class StallGuarded(HttpToolsProtocol):
        # One timer per connection, moved on lazily: a read only pushes the deadline back (a
        # timer scheduled and cancelled per read cost more than the rest of the guard).
        _due: float | None = None  # loop time by which the next bytes must arrive; None: idle
        _timer: asyncio.TimerHandle | None = None

        _head = 0  # bytes of the unfinished head read so far
        _tail = b""  # the last bytes of that head, where its blank line may have begun
        _in_head = True  # the next bytes are (part of) a head
        _heads = 0  # heads finished on this connection

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():  # refused below: the rest is not read
                return
            was_head, heads = self._in_head, self._heads
            if was_head and self._head_too_large(data):  # refused before the parser sees it
                body = _TOO_LARGE_BODY
                self.transport.write(_TOO_LARGE % (len(body), body))
                self.transport.close()
                return
            super().data_received(data)
            # a read that began and ended inside one head, no head finishing in it, is all head;
            # a read that began in a body is not counted (a head after a body's end in the same
            # read is parsed whole, at most one read's 256 KiB)
            if was_head and self._in_head and self._heads == heads:
                self._head += len(data)
                self._tail = (self._tail + data)[-3:]

        def _head_too_large(self, data: bytes) -> bool:
            """Whether this read, which begins inside a head, takes it past MAX_HEAD_BYTES: the
            head must end (a blank line) within the bytes still allowed. The read that ended a
            head was not counted, so 64-128 KiB heads sent in one read were served."""
            room = MAX_HEAD_BYTES - self._head
            if len(data) <= room:
                return False
            seen = self._tail + data[: room + 4]
            ends = [
                at + len(blank) for blank in (b"\r\n\r\n", b"\n\n") if (at := seen.find(blank)) >= 0
            ]
            return not ends or min(ends) - len(self._tail) > room

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to bytes that are no HTTP request (a bad method, two lengths, a
            broken chunk), in the service's JSON error shape: it was text/plain."""
            error = {"code": "bad_request", "message": msg, "field": None}
            body = json.dumps(error, separators=(",", ":")).encode()
            self.transport.write(_BAD_REQUEST % (len(body), body))
            self.transport.close()

        def _arm(self) -> None:
            self._due = self.loop.time() + read_timeout_s
            if self._timer is None:
                self._timer = self.loop.call_at(self._due, self._check)

        def _check(self) -> None:
            self._timer = None
            if self._due is None:  # the request was read meanwhile
                return
            if self.loop.time() >= self._due - _EARLY_S:
                self.transport.close()
            else:
                self._timer = self.loop.call_at(self._due, self._check)

        def _disarm(self) -> None:
            self._due = None  # a pending timer fires once and finds nothing due

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()  # the first request's headers are due

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head = 0
            self._arm()  # this request's headers are due

        def on_headers_complete(self) -> None:
            self._in_head, self._heads = False, self._heads + 1
            self._head, self._tail = 0, b""  # the next head counts from its first byte
            super().on_headers_complete()
            self._arm()  # the body, if any: its next bytes are due

        def on_body(self, body: bytes) -> None:
            super().on_body(body)
            self._arm()

        def on_message_complete(self) -> None:
            self._in_head = True
            super().on_message_complete()
            self._disarm()  # all read: the answer takes the time it needs

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

    return StallGuarded

"""The client's plumbing: one request description, the error classes, and the retry policy,
shared by `Client` and `AsyncClient`, so the two differ only in how they wait and send."""

from __future__ import annotations

import email.utils
import functools
import inspect
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from nestvec.fields import field_path

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# A gateway's 502 or 504 may come after the server acted on the request (a proxy that timed
# out waiting): only a call that may be sent twice is sent again. 429 and 503 were refused.
MAYBE_DONE = frozenset({502, 504})
# Errors raised before the request left: safe to send again whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
NEVER_SENDS = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)  # no http://, a bad header


class NestvecError(Exception):
    """An error answer of the service (or no answer at all): its `code`, `message`, `field`."""

    def __init__(
        self, code: str, message: str, field: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.code, self.message, self.field, self.status = code, message, field, status


class BadRequest(NestvecError):
    """400, 413, 415 or 422: the request itself is wrong (a field, a filter, a size)."""


class AuthError(NestvecError):
    """401 or 403: a missing or wrong API key, or a read-only key on a write."""


class NotFound(NestvecError):
    """404: an unknown collection, point, encoder or payload index."""


class Conflict(NestvecError):
    """409: the collection exists, the index needs training, the encoder changed..."""


class Overloaded(NestvecError):
    """429 after the retries ran out: the encode queue or the rate limit stayed full."""


class Unavailable(NestvecError):
    """502, 503 or 504 after the retries ran out, or a server that cannot be reached."""


class ServerError(NestvecError):
    """Any other 5xx: a bug in the service, reported with its code."""


ERROR_BY_STATUS: dict[int, type[NestvecError]] = {
    **dict.fromkeys((400, 413, 415, 422), BadRequest),
    **dict.fromkeys((401, 403), AuthError),
    404: NotFound,
    409: Conflict,
    429: Overloaded,
    **dict.fromkeys((502, 503, 504), Unavailable),
}


def error_from(response: httpx.Response) -> NestvecError:
    """The exception of an error answer; a body that is not the service's shape is kept as text."""
    try:
        body = response.json()
        code, message, field_ = str(body["code"]), str(body["message"]), body.get("field")
    except (ValueError, KeyError, TypeError):
        code, field_ = f"http_{response.status_code}", None
        message = response.text[:200].replace("\n", " ") or response.reason_phrase
    default = ServerError if response.status_code >= 500 else NestvecError
    cls = ERROR_BY_STATUS.get(response.status_code, default)
    return cls(code, message, field_, response.status_code)


@dataclass(frozen=True)
class Retry:
    """When to send again: busy (429) or restarting (502-504) servers, and lost connections.

    Bounded twice: at most `attempts` sends and `max_total_wait` seconds asleep in all. A
    `Retry-After` is honoured plus up to `jitter` of it (clients told one wait spread out)."""

    attempts: int = 6
    backoff: float = 0.5  # the first wait without Retry-After; doubled each time
    max_wait: float = 30.0  # one wait without Retry-After, at most
    max_total_wait: float = 60.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    jitter: float = 0.25

    def wait(self, attempt: int, waited: float, retry_after: float | None) -> float | None:
        """Seconds to sleep before the next attempt, or None to give up."""
        backoff = min(self.max_wait, self.backoff * 2**attempt)
        delay = backoff if retry_after is None else retry_after
        if attempt + 1 >= self.attempts or waited + delay > self.max_total_wait:
            return None
        return min(delay * (1 + random.uniform(0, self.jitter)), self.max_total_wait - waited)


NO_RETRY = Retry(attempts=1)


def retry_after(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (delta or HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Call(Generic[T]):
    """One REST call: what to send and how to read the answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: Any = None
    files: Any = None
    data: Any = None
    # a 404 with this code means "absent", answered with `absent` instead of an exception
    absent_code: str | None = None
    absent: Any = None
    unsent: bool = False  # nothing to ask the server: `parse(None)` is the answer
    reads_only: bool = False  # a POST that changes nothing (search, embed): sent again freely

    @property
    def repeatable(self) -> bool:
        """Whether sending the call twice does what sending it once does."""
        return self.reads_only or self.method in IDEMPOTENT

    def send_args(self) -> dict[str, Any]:
        """Keyword arguments of `httpx.Client.request` (None ones left out)."""
        args = {"json": self.json, "params": self.params, "files": self.files, "data": self.data}
        return {k: v for k, v in args.items() if v is not None}

    def retry_on(self, exc: httpx.TransportError) -> bool:
        """Whether a lost request may be sent again: unsent, or repeatable."""
        return isinstance(exc, NOT_SENT) or self.repeatable

    def result(self, response: httpx.Response) -> T:
        """The parsed answer, `absent` for the named 404, or the error raised."""
        if response.is_success:
            try:
                return self.parse(response)
            except ValueError as exc:  # the answer's shape, or no JSON (a proxy's page)
                status = response.status_code
                raise ServerError("invalid_response", str(exc)[:200], None, status) from None
        error = error_from(response)
        if self.absent_code is not None and error.status == 404 and error.code == self.absent_code:
            return self.absent  # type: ignore[no-any-return]
        raise error


def unreachable(base_url: object, exc: httpx.TransportError) -> Unavailable:
    """The error of a server that never answered."""
    reason = str(exc) or type(exc).__name__
    return Unavailable("connection_error", f"{base_url}: {reason}", "url", None)


Outcome = httpx.Response | httpx.TransportError


def next_wait(
    call: Call[Any], retry: Retry, attempt: int, waited: float, got: Outcome
) -> float | None:
    """Seconds to wait before sending `call` again after `got`, or None: `got` is final."""
    if isinstance(got, NEVER_SENDS):  # a URL or header that cannot be sent: no retry helps
        return None
    if isinstance(got, httpx.TransportError):
        return retry.wait(attempt, waited, None) if call.retry_on(got) else None
    if got.status_code not in retry.statuses:
        return None
    if got.status_code in MAYBE_DONE and not call.repeatable:
        return None
    return retry.wait(attempt, waited, retry_after(got))


def final(call: Call[T], got: Outcome, base_url: object) -> T:
    """The call's result from its last answer, or the error to raise."""
    if isinstance(got, httpx.TransportError):
        raise unreachable(base_url, got) from got
    return call.result(got)


def body(model: BaseModel) -> dict[str, Any]:
    """A request model as the JSON the service reads (unset options left to its defaults);
    numpy values in payloads (`np.float32(0.5)`, arrays) as their Python values. NaN and
    infinity stay floats, so sending refuses them (`finite_json`): pydantic's JSON mode wrote
    them as null, and a NaN in a payload was stored as null."""
    return cast(dict[str, Any], plain(model.model_dump(exclude_unset=True, exclude_none=True)))


def plain(value: Any) -> Any:
    """A caller's value with numpy inside (ids, vectors) in Python's types, before validation
    (`np.int64(3)` as an id, an array as a vector were refused as no string); NaN stays NaN."""
    return to_jsonable_python(value, inf_nan_mode="constants", fallback=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise BadRequest("validation_error", f"{type(value).__name__} is no JSON value", None, None)


@contextmanager
def finite_json() -> Iterator[None]:
    """httpx's JSON encoding refuses NaN and infinity with a bare ValueError: the server's
    refusal (a `BadRequest`) instead, so `except NestvecError` catches it."""
    try:
        yield
    except ValueError as exc:
        if "Out of range float values" not in str(exc):
            raise
        message = "NaN and infinity are no JSON numbers: send finite values"
        raise BadRequest("validation_error", message, None, None) from None


def read(model: type[M]) -> Callable[[httpx.Response], M]:
    """A parser of answers into `model`."""
    return lambda r: model.model_validate(r.json())


def collection_path(*parts: str) -> str:
    """`/v1/collections/...`; each part is one path segment, whatever it holds ("/", "?", "..":
    httpx resolves a bare `..` segment, so dropping index `..` of c sent DELETE c itself). A
    collection name never holds "/": the server decodes %2F before routing, so "h/points" would
    reach the points of "h" (collection_exists("h/points") was True)."""
    if "/" in parts[0]:
        message = f"invalid collection name {parts[0]!r}: use 1-64 letters, digits, '-' or '_'"
        raise BadRequest("invalid_collection_name", message, "name", None)
    return "/v1/collections/" + "/".join(_segment(p) for p in parts)


def _segment(part: str) -> str:
    quoted = quote(part, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def refused_as_bad_request(cls: type[T]) -> type[T]:
    """Class decorator: a request model that refuses an argument (`k=0`, an unknown filter
    key) raises `BadRequest` as the server's 422 would, not pydantic's ValidationError."""
    for name, method in list(vars(cls).items()):
        if callable(method) and not name.startswith("_"):
            setattr(cls, name, _refused_as_bad_request(method))
    return cls


def _refused_as_bad_request(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def waited(*args: Any, **kwargs: Any) -> Any:  # AsyncClient.upload_points
        try:
            return await method(*args, **kwargs)
        except ValidationError as exc:
            raise _bad_request(exc) from None

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ValidationError as exc:
            raise _bad_request(exc) from None

    return waited if inspect.iscoroutinefunction(method) else call


def _bad_request(exc: ValidationError) -> BadRequest:
    first = exc.errors()[0]
    field = field_path(first["loc"]) or None
    message = f"{field}: {first['msg']}" if field else first["msg"]
    return BadRequest("validation_error", message, field, None)

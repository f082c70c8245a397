"""One router module per resource; every router builds its routes with `JsonRoute`, the hot
ones (search, embed) with `LeanRoute`."""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from service.errors import ClientGone
from service.json_body import parse_json


class _JsonRequest(Request):
    """A request whose JSON body is parsed by `parse_json`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """An APIRoute that hands its handler a `_JsonRequest`; a JSON route refuses a body of
    another declared type with 415 (read as text, it failed validation with a puzzling 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        params = self.dependant.body_params
        takes_json = bool(params) and not any(isinstance(p.field_info, Form) for p in params)
        check_query = query_check(self.path, self.dependant)
        strict = strict_content_type(self)

        async def route(request: Request) -> Response:
            if check_query is not None and request.scope.get("query_string"):
                check_query(request)
            if takes_json:
                refuse_non_json(request.headers.get("content-type"), _has_body(request), strict)
            receive = await whole_form(request) if params and not takes_json else request.receive
            return await handler(_JsonRequest(request.scope, receive))

        return route


async def whole_form(request: Request) -> Receive:
    """The form's body, replayed to the route's parser; 400 for a multipart form without its
    closing boundary (cut short, it parsed as the parts before the cut: its file dropped and
    a 422 saying none was sent)."""
    try:
        body = await request.body()
    except ClientDisconnect:  # the client left mid-form (it was a 500)
        raise ClientGone() from None
    boundary = request.headers.get("content-type", "").partition("boundary=")[2].strip('"')
    closing = b"--" + boundary.encode("latin-1", "replace") + b"--"
    if boundary and not body.rstrip(b"\r\n").endswith(closing):
        raise HTTPException(400, "the multipart form ends without its closing boundary")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:  # later calls wait for the client to leave, as the original receive does
            return await request.receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def query_check(path: str, dependant: Dependant) -> Callable[[Request], None] | None:
    """On /v1 routes, a query parameter the route does not declare is a 422, as an unknown body
    field is (`?limt=5` fell back to the default limit silently). Qdrant's routes and the probes
    keep the lenient reading their clients expect (qdrant-client sends `wait`, `timeout`)."""
    if not path.startswith("/v1/"):
        return None
    known = _query_names(dependant)

    def check(request: Request) -> None:
        for name, value in request.query_params.multi_items():
            if name not in known:
                msg = "Extra inputs are not permitted"
                error = {"type": "extra_forbidden", "loc": ("query", name), "msg": msg}
                raise RequestValidationError([{**error, "input": value}])

    return check


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    return names.union(*(_query_names(d) for d in dependant.dependencies))


def refuse_non_json(content_type: str | None, has_body: bool, strict: bool) -> None:
    """415 for a declared content type that is not JSON, and for a body without one where FastAPI
    does not read such a body as JSON (`strict`: it was a 422 "Input should be a valid
    dictionary" at no field)."""
    if content_type and not _is_json(content_type, strict=True):
        message = f"the body must be JSON (Content-Type: application/json), not {content_type}"
        raise HTTPException(415, message[:200])
    if not content_type and has_body and strict:  # absent, or sent empty (`Content-Type:`)
        raise HTTPException(415, "the body must be JSON: send Content-Type: application/json")


def strict_content_type(route: APIRoute) -> bool:
    """FastAPI's own setting: with it, a body without a content type is not read as JSON."""
    strict = getattr(route, "strict_content_type", False)  # absent before FastAPI 0.13x
    return bool(getattr(strict, "value", strict))


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


class LeanRoute(JsonRoute):
    """The same contract as `JsonRoute` for routes of one shape: `str` path parameters, one
    JSON body model, dependencies that take only the Request, and an endpoint that returns a
    `Response`. FastAPI solves such a route's dependencies generically on every call; this
    handler binds them once (measured: a 128-d search's server time 488 -> 415 us, the vector
    search itself about 110). Validation, error shapes and the OpenAPI schema are FastAPI's own;
    a route of any other shape is refused when the app is built."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return _lean_handler(
            self.dependant,
            self.endpoint,
            strict_content_type(self),
            query_check(self.path, self.dependant),
        )


def _lean_handler(
    dependant: Dependant,
    endpoint: Callable[..., Any],
    strict: bool,
    check_query: Callable[[Request], None] | None,
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    extra = dependant.query_params or dependant.header_params or dependant.cookie_params
    if extra or len(dependant.body_params) > 1:
        raise TypeError(f"{endpoint.__name__}: LeanRoute takes path params and one body only")
    for name, param in inspect.signature(endpoint).parameters.items():
        if name in {p.name for p in dependant.path_params} and param.annotation not in (str, "str"):
            raise TypeError(f"{endpoint.__name__}: LeanRoute path params are str")
    body = dependant.body_params[0] if dependant.body_params else None
    model = body.field_info.annotation if body is not None else None
    if body is not None and not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise TypeError(f"{endpoint.__name__}: LeanRoute bodies are one pydantic model")
    checks = [_request_only(d, endpoint) for d in dependant.dependencies]
    path_names = [p.name for p in dependant.path_params]
    is_async = inspect.iscoroutinefunction(endpoint)

    async def handle(request: Request) -> Response:
        if check_query is not None and request.scope.get("query_string"):
            check_query(request)
        values: dict[str, Any] = {name: request.path_params[name] for name in path_names}
        for name, check in checks:
            result = await check(request)
            if name is not None:
                values[name] = result
        if body is not None:
            values[body.name] = await _read_body(request, model, strict)  # type: ignore[arg-type]
        answer = (
            await endpoint(**values) if is_async else await run_in_threadpool(endpoint, **values)
        )
        if not isinstance(answer, Response):
            raise TypeError(f"{endpoint.__name__}: a LeanRoute endpoint returns a Response")
        return answer

    return handle


def _request_only(
    dependency: Dependant, endpoint: Callable[..., Any]
) -> tuple[str | None, Callable[[Request], Awaitable[Any]]]:
    """(parameter name, call) of a dependency that needs nothing but the Request."""
    call = dependency.call
    own = (
        dependency.path_params,
        dependency.query_params,
        dependency.header_params,
        dependency.cookie_params,
        dependency.body_params,
        dependency.dependencies,
    )
    if any(own) or not inspect.iscoroutinefunction(call):
        raise TypeError(f"{endpoint.__name__}: LeanRoute dependencies are async f(request)")
    return dependency.name, call  # type: ignore[return-value]


async def _read_body(request: Request, model: type[BaseModel], strict: bool) -> BaseModel:
    """The body as FastAPI reads it: JSON when the content type says so (or, not `strict`, none),
    validated against `model`; errors located under "body" as FastAPI locates them."""
    try:
        raw = await request.body()
    except ClientDisconnect:  # the client left mid-body: logged 499, not a server error
        raise ClientGone() from None
    content: Any = None
    if raw:
        refuse_non_json(request.headers.get("content-type"), True, strict)
        if _is_json(request.headers.get("content-type"), strict):
            try:
                content = parse_json(raw)
            except json.JSONDecodeError as e:
                error = {"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error"}
                error["ctx"] = {"error": e.msg}  # as FastAPI's own: the handler names a duplicate
                raise RequestValidationError([error], body=e.doc) from e
        else:
            content = raw
    if content is None:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        return model.model_validate(content, from_attributes=True)
    except ValidationError as e:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]
        raise RequestValidationError(errors, body=content) from e


def _is_json(content_type: str | None, strict: bool) -> bool:
    if not content_type:
        return not strict
    if content_type == "application/json":  # what nearly every client sends: skip the parse
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )

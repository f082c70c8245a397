"""Prometheus metrics, request ids and structured JSON logs.

Each app owns its own CollectorRegistry (no process globals), served at GET /metrics.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("nestvec.access")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The service's metric families, registered in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "nestvec_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "nestvec_request_seconds",
            "HTTP latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "nestvec_encode_batch_size",
            "inputs per model call",
            ["encoder"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.queue_wait = Histogram(
            "nestvec_encode_queue_seconds",
            "wait before a batch starts",
            ["encoder"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.encode_time = Histogram(
            "nestvec_encode_seconds",
            "model time per batch",
            ["encoder"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.recall: dict[str, float] = {}  # last measured recall per collection

    def batch_observer(self, encoder: str) -> Callable[[int, float, float], None]:
        """Callback for the batcher: (inputs, queue wait, encode seconds) per model call."""

        def observe(size: int, waited: float, took: float) -> None:
            self.batch_size.labels(encoder).observe(size)
            self.queue_wait.labels(encoder).observe(waited)
            self.encode_time.labels(encoder).observe(took)

        return observe

    def watch_collections(self, describe: Callable[[], list[dict[str, Any]]]) -> None:
        """Gauges read at scrape time from `describe()` rows (name, count, tombstone_ratio)."""
        self.registry.register(_CollectionCollector(describe, self.recall))


class _CollectionCollector:
    def __init__(self, rows: Callable[[], list[dict[str, Any]]], recall: dict[str, float]):
        # not named `describe`: the registry would call that at registration
        self.rows, self.recall = rows, recall

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily(
            "nestvec_index_points", "points per collection", labels=["collection"]
        )
        dead = GaugeMetricFamily(
            "nestvec_index_tombstone_ratio",
            "deleted share not yet reclaimed",
            labels=["collection"],
        )
        recall = GaugeMetricFamily(
            "nestvec_collection_recall", "last measured recall@k", labels=["collection"]
        )
        for row in self.rows():
            size.add_metric([row["name"]], row["count"])
            dead.add_metric([row["name"]], row.get("tombstone_ratio", 0.0))
            if row["name"] in self.recall:
                recall.add_metric([row["name"]], self.recall[row["name"]])
        yield from (size, dead, recall)


class RequestLog:
    """Gives every request an id (X-Request-ID, taken from the client when sent), counts it,
    times it and logs one JSON line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        # (method, route, status) -> its counter and histogram children: `labels()` looks them
        # up under a lock on every call (measured about 8 us a request); as many as Prometheus
        # keeps itself
        self._cached: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        found = self._cached.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
            self._cached[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        sent = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        # printable ASCII only: other bytes came back re-encoded, an id the client never sent
        kept = sent if sent.isascii() and sent.isprintable() else ""
        request_id = kept or secrets.token_hex(16)  # uuid4().hex's shape, a fifth of its cost
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - start
            route = route_path(scope)
            count, timing = self._children(scope["method"], route, status)
            count.inc()
            timing.observe(took)
            if log.isEnabledFor(logging.INFO):  # its record is built only to be logged
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(took * 1000, 2),
                    },
                )


def route_path(scope: Scope) -> str:
    """The route template a request was for: routing sets it, but a request the middleware
    refused (401, 413, 429) never reached routing, so it is looked up; "unmatched" keeps
    unknown paths from adding a label each."""
    if "route" in scope:  # its template as the lookup below gives it (`{key}`, not `{key:path}`)
        route = scope["route"]
        return getattr(route, "path_format", getattr(route, "path", "unmatched"))
    partial = "unmatched"
    for route in iter_route_contexts(scope["app"].routes):  # included routers, expanded
        match = route.route.matches(scope)[0]
        if match == Match.FULL:  # method and path: `/points/scroll`, not `/points/{point_id}`
            return route.path_format
        if match == Match.PARTIAL and partial == "unmatched":  # the path, another method
            partial = route.path_format
    return partial


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    # uvicorn's `color_message` repeats the message with terminal colour codes
    STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
        "message",
        "color_message",
        "asctime",  # set on the record by the text formatter's own line
    }

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in self.STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """One plain line for people: time, level, logger, message, then any `extra` as k=v."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = [
            f"{k}={_logfmt(v)}" for k, v in vars(record).items() if k not in JsonFormatter.STANDARD
        ]
        return " ".join([line, *extra])


def _logfmt(value: object) -> str:
    """A value as logfmt writes it: quoted when it holds a space, `=` or a quote, so a request
    id of `abc status=500` cannot read as a field of its own."""
    text = str(value)
    plain = text and not any(c.isspace() or c in '="' for c in text)
    return text if plain else json.dumps(text)


def configure_logging(level: str, json_lines: bool = True) -> None:
    """Route every logger (uvicorn's included) to stderr as JSON lines, or as text lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def disable_progress_bars() -> None:
    """No tqdm bars from model loading in a server's log stream (they are not log lines)."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:  # a slim install without the text models
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars as disable_hub_bars

        disable_hub_bars()
    except ImportError:
        pass

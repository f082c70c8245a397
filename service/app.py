"""The app factory: builds one Engine, wires routers and error handlers. Nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from encoders import EncoderPool
from service import qdrant
from service.asgi import AnswerWhenCut, HeadAsGet
from service.auth import ApiKeyAuth
from service.client_gone import WatchClient
from service.engine import Engine
from service.errors import install_error_handlers
from service.limits import BodySizeLimit, RateLimit, per_minute_bucket
from service.observability import Metrics, RequestLog
from service.openapi import document_routes
from service.routers import (
    analysis,
    collections,
    compat,
    embed,
    encoders,
    faces,
    health,
    metrics,
    points,
    rank,
    recommend,
    search,
    uploads,
)
from service.settings import Settings
from service.version import nestvec_version

# Routes are matched in this order, router by router: the probes and the hot paths first.
ROUTERS = (
    health,
    search,
    points,
    embed,
    metrics,
    encoders,
    collections,
    analysis,
    faces,
    uploads,
    recommend,
    rank,
    compat,
    qdrant,  # Qdrant's own paths (/, /collections/...), after every native route
)


def create_app(settings: Settings | None = None, encoders: EncoderPool | None = None) -> FastAPI:
    """A ready-to-serve app; pass `encoders` to share loaded models (tests do)."""
    settings = settings or Settings()

    app_metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Engine]]:
        engine = Engine(settings, encoders, app_metrics)
        app_metrics.watch_collections(engine.describe_all)
        try:
            yield {"engine": engine}
        finally:
            engine.close()  # writes index snapshots so the next start loads instead of rebuilds

    app = FastAPI(title="nestvec", version=nestvec_version(), lifespan=lifespan)
    for module in ROUTERS:
        app.include_router(module.router)
    document_routes(app, settings)  # per-route error statuses, security schemes
    install_error_handlers(app)
    install_middleware(app, settings, app_metrics)
    return app


def install_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Outermost first: request log, the answer when cut at shutdown, client watch, body size,
    auth, rate limit (which needs the key), HEAD."""
    app.add_middleware(HeadAsGet)
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    if settings.api_keys or settings.read_only_keys:
        per_minute = settings.rate_limit_per_minute
        app.add_middleware(
            ApiKeyAuth,
            keys=settings.api_keys,
            read_only_keys=settings.read_only_keys,
            failures=per_minute_bucket(per_minute) if per_minute else None,
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(WatchClient)  # inside the log: a request whose client left logs 499
    app.add_middleware(AnswerWhenCut)  # and one cut at shutdown 503
    app.add_middleware(RequestLog, metrics=metrics)

"""The app factory: builds one Engine, wires routers and error handlers. Nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from encoders import EncoderPool
from service.engine import Engine
from service.errors import install_error_handlers
from service.routers import collections, embed, encoders, health, points, search
from service.settings import Settings

ROUTERS = (health, encoders, embed, collections, points, search)


def create_app(settings: Settings | None = None, encoders: EncoderPool | None = None) -> FastAPI:
    """A ready-to-serve app; pass `encoders` to share loaded models (tests do)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Engine]]:
        engine = Engine(settings, encoders)
        try:
            yield {"engine": engine}
        finally:
            engine.close()  # writes index snapshots so the next start loads instead of rebuilds

    app = FastAPI(title="nestvec", version="0.1.0", lifespan=lifespan)
    for module in ROUTERS:
        app.include_router(module.router)
    install_error_handlers(app)
    return app

"""Liveness and readiness probes (no auth, no side effects)."""

from fastapi import APIRouter

from service.deps import EngineDep
from service.routers import JsonRoute

router = APIRouter(route_class=JsonRoute, tags=["health"])


# async: a probe answers on the event loop, never queued behind a busy worker-thread pool
@router.get("/healthz")
@router.get("/livez", include_in_schema=False)  # Qdrant's (and Kubernetes') spelling
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(engine: EngineDep) -> dict[str, object]:
    # The lifespan opens every collection and preloads encoders before serving, so reaching
    # this handler means the service is ready.
    return {"status": "ready", "collections": len(engine.catalog.names())}

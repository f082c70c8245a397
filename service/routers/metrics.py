"""GET /metrics in the Prometheus text format. It names the collections and their sizes, so with
keys configured it takes one (a read-only key will do), as Qdrant's /metrics does."""

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import EngineDep, ReadAccess
from service.routers import JsonRoute

router = APIRouter(route_class=JsonRoute, tags=["health"], dependencies=[ReadAccess])


@router.get("/metrics", response_class=Response)
def metrics(engine: EngineDep) -> Response:
    return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)

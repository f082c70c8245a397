"""Qdrant routes this subset does not serve (aliases, snapshots, cluster, collection updates,
vector updates, batch and group searches, facets): a 422 in Qdrant's error shape naming the
route, as the README promises, instead of a bare 404 or 405. Included after every served
route, so it only answers what none of them does."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.deps import ReadAccess
from service.qdrant.translate import QdrantRoute, Unsupported

router = APIRouter(route_class=QdrantRoute, tags=["qdrant"])
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


# Qdrant's service routes beside collections (its client's cluster_status, list_full_snapshots
# and the like got nestvec's own 404 body, which the client could not read)
TOP_LEVEL = ["/aliases", "/cluster", "/cluster/{rest:path}", "/snapshots", "/snapshots/{rest:path}"]
TOP_LEVEL += ["/telemetry", "/locks", "/issues"]


@router.api_route(
    "/collections/{rest:path}", methods=METHODS, include_in_schema=False, dependencies=[ReadAccess]
)
def unsupported(request: Request) -> None:
    raise Unsupported(
        f"{request.method} {request.url.path} is a Qdrant API nestvec does not serve (served: "
        "collections, points, payload, payload indexes, search, query, recommend, scroll, count)"
    )


for path in TOP_LEVEL:
    router.api_route(path, methods=METHODS, include_in_schema=False, dependencies=[ReadAccess])(
        unsupported
    )

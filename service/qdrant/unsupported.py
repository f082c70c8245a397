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


@router.api_route(
    "/collections/{rest:path}", methods=METHODS, include_in_schema=False, dependencies=[ReadAccess]
)
@router.api_route("/aliases", methods=METHODS, include_in_schema=False, dependencies=[ReadAccess])
def unsupported(request: Request) -> None:
    raise Unsupported(
        f"{request.method} {request.url.path} is a Qdrant API nestvec does not serve (served: "
        "collections, points, payload, payload indexes, search, query, recommend, scroll, count)"
    )

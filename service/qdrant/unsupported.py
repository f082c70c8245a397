"""Qdrant routes this subset does not serve (aliases, snapshots, cluster, collection updates,
vector updates, batch and group searches, facets): a 422 in Qdrant's error shape naming the
route, as the README promises, instead of a bare 404 or 405. Included after every served
route, so it only answers what none of them does."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request

from service.deps import ReadAccess
from service.qdrant.translate import QdrantRoute, Unsupported

router = APIRouter(route_class=QdrantRoute, tags=["qdrant"])
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


# Qdrant's service routes beside collections (its client's cluster_status, list_full_snapshots
# and the like got nestvec's own 404 body, which the client could not read)
TOP_LEVEL = ["/aliases", "/cluster", "/cluster/{rest:path}", "/snapshots", "/snapshots/{rest:path}"]
TOP_LEVEL += ["/telemetry", "/locks", "/issues"]


# Qdrant's own paths under /collections and their methods (its OpenAPI as qdrant-client 1.20's
# api modules give it, and the deprecated search/recommend/discover routes): another is no
# Qdrant API, a 404 as Qdrant's (`POST points/serch` read "a Qdrant API nestvec does not serve")
_ANY = "GET POST PUT PATCH DELETE"
QDRANT_ROUTES = {
    "aliases": "POST", "{}": "GET PUT PATCH DELETE", "{}/aliases": "GET", "{}/cluster": "GET POST",
    "{}/exists": "GET", "{}/facet": "POST", "{}/index": "PUT", "{}/index/{}": "DELETE",
    "{}/optimizations": "GET", "{}/points": "POST PUT", "{}/points/{}": "GET",
    "{}/points/payload": "POST PUT", "{}/points/vectors": "PUT", "{}/shards": _ANY,
    "{}/shards/{}/snapshot": _ANY, "{}/shards/{}/snapshots": _ANY, "{}/snapshots": "GET POST",
    "{}/shards/{}/snapshots/recover": _ANY, "{}/shards/{}/snapshots/upload": _ANY,
    "{}/shards/{}/snapshots/{}": _ANY, "{}/snapshots/recover": "PUT", "{}/snapshots/upload": "POST",
    "{}/snapshots/{}": "GET DELETE", "{}/vectors/{}": _ANY,
    **{
        f"{{}}/{tail}": "POST"
        for tail in (
            "points/batch", "points/count", "points/delete", "points/payload/clear",
            "points/payload/delete", "points/query", "points/query/batch", "points/query/groups",
            "points/scroll", "points/search", "points/search/batch", "points/search/groups",
            "points/search/matrix/offsets", "points/search/matrix/pairs", "points/recommend",
            "points/recommend/batch", "points/recommend/groups", "points/discover",
            "points/discover/batch", "points/vectors/delete", "shards/delete",
        )
    },
}  # fmt: skip
_ROUTES = [
    (re.compile("/collections/" + template.replace("{}", "[^/]+") + "/?"), methods.split())
    for template, methods in QDRANT_ROUTES.items()
]


def is_qdrant_route(method: str, path: str) -> bool:
    return any(method in methods and regex.fullmatch(path) for regex, methods in _ROUTES)


@router.api_route(
    "/collections/{rest:path}", methods=METHODS, include_in_schema=False, dependencies=[ReadAccess]
)
def unsupported(request: Request) -> None:
    path = request.url.path
    if path.startswith("/collections/") and not is_qdrant_route(request.method, path):
        raise HTTPException(404, f"{request.method} {path}: no such Qdrant API")
    raise Unsupported(
        f"{request.method} {request.url.path} is a Qdrant API nestvec does not serve (served: "
        "collections, points, payload, payload indexes, search, query, recommend, scroll, count)"
    )


for path in TOP_LEVEL:
    router.api_route(path, methods=METHODS, include_in_schema=False, dependencies=[ReadAccess])(
        unsupported
    )

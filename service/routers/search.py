"""Search a collection: one query, or a batch answered with one index call per shared setting."""

from typing import Any

from fastapi import APIRouter, Response

from index import Hit
from service import offload
from service.deps import EngineDep, ReadAccess
from service.responses import json_response
from service.routers import LeanRoute
from service.schemas.points import point_dict
from service.schemas.search import (
    BatchSearchRequest,
    BatchSearchResponse,
    SearchRequest,
    SearchResponse,
)

router = APIRouter(
    route_class=LeanRoute,
    prefix="/v1/collections/{name}",
    tags=["search"],
    dependencies=[ReadAccess],
)


@router.post("/search", response_model=SearchResponse, response_model_exclude_unset=True)
async def search(name: str, req: SearchRequest, engine: EngineDep) -> Response:
    inline = engine.search_in_memory(name, req)
    hits = (await offload.run(engine.search, name, [req], ["query"], inline=inline))[0]
    return json_response({"results": _render(hits, req)})


@router.post("/search/batch", response_model=BatchSearchResponse, response_model_exclude_unset=True)
def search_batch(name: str, req: BatchSearchRequest, engine: EngineDep) -> Response:
    fields = [f"searches[{i}].query" for i in range(len(req.searches))]
    answers = engine.search(name, req.searches, fields)
    results = [_render(hits, r) for hits, r in zip(answers, req.searches, strict=True)]
    return json_response({"results": results})


def _render(hits: list[Hit], req: SearchRequest) -> list[dict[str, Any]]:
    return [point_dict(h, req.with_payload, req.with_vector, score=h.score) for h in hits]

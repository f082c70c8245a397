"""POST /v1/collections/{name}/search: by text, vector or stored id."""

from typing import Any

from fastapi import APIRouter

from service.deps import EngineDep
from service.schemas import SearchRequest, SearchResponse, point_dict

router = APIRouter(prefix="/v1/collections/{name}", tags=["search"])


@router.post("/search", response_model=SearchResponse, response_model_exclude_unset=True)
def search(name: str, req: SearchRequest, engine: EngineDep) -> dict[str, Any]:
    hits = engine.search(name, req.query, req.k, req.filter, req.params, req.with_vector)
    return {
        "results": [
            point_dict(h.point, req.with_payload, req.with_vector, score=h.score) for h in hits
        ]
    }

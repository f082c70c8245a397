"""Recommend points of a collection from examples or from a user history."""

from typing import Any

from fastapi import APIRouter, Response

from service.deps import EngineDep, ReadAccess
from service.recommend import Recommendation, recommend
from service.responses import json_response
from service.routers import JsonRoute
from service.schemas.points import point_dict
from service.schemas.recommend import RecommendRequest, RecommendResponse

router = APIRouter(
    route_class=JsonRoute,
    prefix="/v1/collections/{name}",
    tags=["recommend"],
    dependencies=[ReadAccess],
)


@router.post("/recommend", response_model=RecommendResponse, response_model_exclude_unset=True)
def recommend_points(name: str, req: RecommendRequest, engine: EngineDep) -> Response:
    """Qdrant-style examples (`positive`, `negative`, `strategy`), or a `history`."""
    return json_response(_render(recommend(engine, name, req), req))


def _render(found: Recommendation, req: RecommendRequest) -> dict[str, Any]:
    results = [point_dict(h, req.with_payload, req.with_vector, score=h.score) for h in found.hits]
    if found.sources is None or found.interests is None or found.history_ids is None:
        return {"results": results}
    for item, source in zip(results, found.sources, strict=True):
        item["interest"] = source
    ids, interests = found.history_ids, found.interests
    described = [
        {
            "index": j,
            "term": term,
            "weight": float(weight),
            "members": [ids[i] for i in members.tolist()],
        }
        for j, (term, weight, members) in enumerate(
            zip(interests.terms, interests.weights, interests.members, strict=True)
        )
    ]
    return {"results": results, "interests": described}

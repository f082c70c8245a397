"""Upsert, fetch (by ids or page by page) and delete points of a collection."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from encoders import InvalidInput
from service.deps import EngineDep, ReadAccess, WriteAccess
from service.responses import json_response
from service.routers import JsonRoute
from service.schemas.points import (
    DeletePointsRequest,
    DeleteResponse,
    PointsPage,
    UpsertRequest,
    UpsertResponse,
    point_dict,
)

router = APIRouter(route_class=JsonRoute, prefix="/v1/collections/{name}/points", tags=["points"])


@router.put("", response_model=UpsertResponse, dependencies=[WriteAccess])
def upsert_points(name: str, req: UpsertRequest, engine: EngineDep) -> dict[str, int]:
    return {"upserted": engine.upsert(name, req.points)}


@router.get(
    "", response_model=PointsPage, response_model_exclude_unset=True, dependencies=[ReadAccess]
)
def get_points(
    name: str,
    engine: EngineDep,
    ids: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    with_payload: bool = True,
    with_vector: bool = False,
    limit: Annotated[int | None, Query(ge=1, description="page size (default 100)")] = None,
    offset: str | None = None,
) -> Response:
    """By `ids` (repeat the parameter), or a page of `limit` points after the `offset` id."""
    collection = engine.catalog.get(name)
    if ids:
        paged = "limit" if limit is not None else "offset" if offset is not None else None
        if paged is not None:  # it was ignored: the ids' points came back whole
            raise InvalidInput(f"'{paged}' pages through all points; ask by ids or by page", paged)
        engine.check_batch(len(ids), "ids")
        points, next_offset = collection.get(ids, with_vector), None
    else:
        limit = min(limit or 100, engine.settings.max_page)
        points = collection.page(offset, limit + 1, with_vector)
        next_offset = points[limit - 1].id if len(points) > limit else None
        points = points[:limit]
    return json_response(
        {
            "points": [point_dict(p, with_payload, with_vector) for p in points],
            "next_offset": next_offset,
        }
    )


@router.delete("", response_model=DeleteResponse, dependencies=[WriteAccess])
def delete_points(
    name: str,
    engine: EngineDep,
    ids: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    body: Annotated[DeletePointsRequest | None, Body()] = None,
) -> dict[str, int]:
    """Ids from the query string (`?ids=a&ids=b`) and/or a JSON body `{"ids", "filter"}`."""
    all_ids = list(ids) + [str(i) for i in (body.ids if body else [])]
    return {"deleted": engine.delete(name, all_ids, body.filter if body else None)}

"""Create, list, describe and drop collections."""

from fastapi import APIRouter, status

from service.deps import EngineDep, ReadAccess, WriteAccess
from service.routers import JsonRoute
from service.schemas.collections import (
    CollectionInfo,
    CollectionList,
    CreateCollectionRequest,
    PayloadIndexDeleted,
    PayloadIndexInfo,
    PayloadIndexRequest,
    TrainResponse,
)
from service.schemas.points import CountRequest, CountResponse

router = APIRouter(route_class=JsonRoute, prefix="/v1/collections", tags=["collections"])


@router.post(
    "",
    response_model=CollectionInfo,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteAccess],
)
def create_collection(req: CreateCollectionRequest, engine: EngineDep) -> dict[str, object]:
    return engine.describe(engine.create_collection(req), created=True)


@router.get("", response_model=CollectionList, dependencies=[ReadAccess])
def list_collections(engine: EngineDep) -> dict[str, object]:
    return {"collections": engine.describe_all()}


@router.get("/{name}", response_model=CollectionInfo, dependencies=[ReadAccess])
def get_collection(name: str, engine: EngineDep) -> dict[str, object]:
    return engine.describe(engine.catalog.get(name))


@router.delete("/{name}", dependencies=[WriteAccess])
def drop_collection(name: str, engine: EngineDep) -> dict[str, object]:
    engine.drop_collection(name)
    return {"name": name, "deleted": True}


@router.post("/{name}/count", response_model=CountResponse, dependencies=[ReadAccess])
def count_points(name: str, engine: EngineDep, req: CountRequest | None = None) -> dict[str, int]:
    """All points, or those matching `filter`."""
    return {"count": engine.catalog.get(name).count(req.filter if req else None)}


@router.post("/{name}/train", response_model=TrainResponse, dependencies=[WriteAccess])
def train_index(name: str, engine: EngineDep) -> dict[str, object]:
    """Train an IVF-type index now (409 with the count needed when there are too few points)."""
    collection = engine.catalog.get(name)
    collection.train()
    return {"trained": True, "count": collection.count()}


@router.put("/{name}/payload_index", response_model=PayloadIndexInfo, dependencies=[WriteAccess])
def create_payload_index(name: str, req: PayloadIndexRequest, engine: EngineDep) -> dict[str, str]:
    """Declare (or re-type) an in-memory index on a payload field; filters on it skip SQLite."""
    engine.catalog.get(name).create_payload_index(req.field_name, req.field_schema)
    return {"field_name": req.field_name, "field_schema": req.field_schema}


# `:path`: a payload key may hold a "/", which arrives decoded from %2F
@router.delete(
    "/{name}/payload_index/{field_name:path}",
    response_model=PayloadIndexDeleted,
    dependencies=[WriteAccess],
)
def drop_payload_index(name: str, field_name: str, engine: EngineDep) -> dict[str, object]:
    """Forget a payload index (404 payload_index_not_found when the field has none)."""
    engine.catalog.get(name).drop_payload_index(field_name)
    return {"field_name": field_name, "deleted": True}

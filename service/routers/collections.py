"""Create, list, describe and drop collections."""

from fastapi import APIRouter, status

from service.deps import EngineDep, ReadAccess, WriteAccess
from service.schemas import (
    CollectionInfo,
    CollectionList,
    CountRequest,
    CountResponse,
    CreateCollectionRequest,
    TrainResponse,
)

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.post(
    "",
    response_model=CollectionInfo,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteAccess],
)
def create_collection(req: CreateCollectionRequest, engine: EngineDep) -> dict[str, object]:
    return engine.describe(engine.create_collection(req))


@router.get("", response_model=CollectionList, dependencies=[ReadAccess])
def list_collections(engine: EngineDep) -> dict[str, object]:
    names = engine.catalog.names()
    return {"collections": [engine.describe(engine.catalog.get(n)) for n in names]}


@router.get("/{name}", response_model=CollectionInfo, dependencies=[ReadAccess])
def get_collection(name: str, engine: EngineDep) -> dict[str, object]:
    return engine.describe(engine.catalog.get(name))


@router.delete("/{name}", dependencies=[WriteAccess])
def drop_collection(name: str, engine: EngineDep) -> dict[str, object]:
    engine.catalog.drop(name)
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

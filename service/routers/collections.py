"""Create, list, describe and drop collections."""

from fastapi import APIRouter, status

from service.deps import EngineDep
from service.schemas import CollectionInfo, CollectionList, CreateCollectionRequest

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.post("", response_model=CollectionInfo, status_code=status.HTTP_201_CREATED)
def create_collection(req: CreateCollectionRequest, engine: EngineDep) -> dict[str, object]:
    return engine.describe(engine.create_collection(req))


@router.get("", response_model=CollectionList)
def list_collections(engine: EngineDep) -> dict[str, object]:
    names = engine.catalog.names()
    return {"collections": [engine.describe(engine.catalog.get(n)) for n in names]}


@router.get("/{name}", response_model=CollectionInfo)
def get_collection(name: str, engine: EngineDep) -> dict[str, object]:
    return engine.describe(engine.catalog.get(name))


@router.delete("/{name}")
def drop_collection(name: str, engine: EngineDep) -> dict[str, object]:
    engine.catalog.drop(name)
    return {"name": name, "deleted": True}

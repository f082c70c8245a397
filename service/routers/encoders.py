"""GET /v1/encoders: what can embed, with modality and dimensions."""

from fastapi import APIRouter

from encoders import available_encoders
from service.deps import EngineDep, ReadAccess
from service.routers import JsonRoute

router = APIRouter(
    route_class=JsonRoute, prefix="/v1", tags=["encoders"], dependencies=[ReadAccess]
)


@router.get("/encoders")
def list_encoders(engine: EngineDep) -> dict[str, list[dict[str, object]]]:
    return {"encoders": [engine.describe_encoder(name) for name in available_encoders()]}

"""GET /v1/encoders: what can embed, with modality and dimensions, and what needs an extra."""

from fastapi import APIRouter

from encoders.registry import describe_entry, encoder_entries
from service.deps import EngineDep, ReadAccess
from service.routers import JsonRoute

router = APIRouter(
    route_class=JsonRoute, prefix="/v1", tags=["encoders"], dependencies=[ReadAccess]
)


@router.get("/encoders")
def list_encoders(engine: EngineDep) -> dict[str, list[dict[str, object]]]:
    models_dir = engine.settings.resolved_models_dir
    entries = encoder_entries()
    return {"encoders": [describe_entry(e, engine.encoders, models_dir) for e in entries]}

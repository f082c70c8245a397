"""GET /v1/encoders: what can embed, with modality and dimensions, and what needs an extra."""

from pathlib import Path
from typing import Any

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
    described = [describe_entry(e, engine.encoders, models_dir) for e in entries]
    return {"encoders": [_without_server_paths(d, models_dir) for d in described]}


def _without_server_paths(described: dict[str, Any], models_dir: Path) -> dict[str, Any]:
    """An artifact's path relative to the models directory: clients need not see the server's
    file layout (the start-up log, for the operator, names the whole path)."""
    artifact = described.get("artifact")
    if not artifact or not artifact.get("path"):
        return described
    path = Path(artifact["path"])
    shown = path.relative_to(models_dir) if path.is_relative_to(models_dir) else Path(path.name)
    return {**described, "artifact": {**artifact, "path": shown.as_posix()}}

"""POST /v1/faces/verify: are two faces (images or stored points) the same person?"""

from typing import Any

from fastapi import APIRouter

from service.deps import EngineDep, ReadAccess
from service.faces import verify
from service.routers import JsonRoute
from service.schemas.faces import VerifyRequest, VerifyResponse

router = APIRouter(
    route_class=JsonRoute, prefix="/v1/faces", tags=["faces"], dependencies=[ReadAccess]
)


@router.post("/verify", response_model=VerifyResponse, response_model_exclude_none=True)
async def verify_faces(req: VerifyRequest, engine: EngineDep) -> dict[str, Any]:
    """Euclidean distance of the raw descriptors, against `threshold` (default: the encoder's)."""
    return await verify(engine, req)

"""Multipart forms of embed and upsert, for image files sent as they are (no base64).

`POST /v1/embed/upload` answers like `POST /v1/embed`; `POST /v1/collections/{name}/points/upload`
stores each file as a point (id: the `ids` form field in order, else the file name).
"""

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from service.deps import EngineDep, ReadAccess, WriteAccess
from service.errors import ServiceError
from service.responses import json_response
from service.routers import JsonRoute
from service.routers.embed import embed_answer
from service.schemas.embed import EmbedResponse
from service.schemas.points import PointIn, UpsertResponse

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["uploads"])

Files = Annotated[list[UploadFile], File(description="image files")]


@router.post(
    "/embed/upload",
    response_model=EmbedResponse,
    response_model_exclude_none=True,
    dependencies=[ReadAccess],
)
async def embed_upload(
    files: Files,
    engine: EngineDep,
    encoder: Annotated[str, Form()] = "face-dlib",
    dim: Annotated[int | None, Form()] = None,
) -> Response:
    inputs = [await f.read() for f in files]
    vectors, items = await engine.aembed_items(encoder, inputs, dim)  # awaits the batch
    return json_response(embed_answer(encoder, vectors, items))


@router.post(
    "/collections/{name}/points/upload",
    response_model=UpsertResponse,
    dependencies=[WriteAccess],
)
def upsert_upload(
    name: str,
    files: Files,
    engine: EngineDep,
    ids: Annotated[list[str] | None, Form()] = None,
) -> dict[str, int]:
    if ids is not None and len(ids) != len(files):
        raise ServiceError(f"{len(ids)} ids for {len(files)} files", "ids")
    names = ids or [f.filename or str(i) for i, f in enumerate(files)]
    points = [
        PointIn(id=point_id, input=f.file.read(), payload={"filename": f.filename})
        for point_id, f in zip(names, files, strict=True)
    ]
    return {"upserted": engine.upsert(name, points)}

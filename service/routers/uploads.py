"""Multipart forms of embed and upsert, for image files sent as they are (no base64).

`POST /v1/embed/upload` answers like `POST /v1/embed`; `POST /v1/collections/{name}/points/upload`
stores each file as a point (id: the `ids` form field in order, else the file name).
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError

from encoders import EncoderError
from index.errors import IndexError_
from service.deps import EngineDep, ReadAccess, WriteAccess
from service.errors import ServiceError, fields_renamed
from service.responses import json_response
from service.routers import JsonRoute
from service.routers.embed import embed_answer
from service.schemas.embed import EmbedResponse
from service.schemas.points import PointIn, UpsertResponse

# Starlette's own cap (1,000 files) answered 400 "Too many files" below NESTVEC_MAX_BATCH (2,048),
# whose 422 limit_exceeded is every other route's answer; past this one the 400 still guards
UPLOAD_MAX_PARTS = 10_000
router = APIRouter(
    route_class=JsonRoute,
    prefix="/v1",
    tags=["uploads"],
    form_limits={"max_files": UPLOAD_MAX_PARTS, "max_fields": UPLOAD_MAX_PARTS},
)

Files = Annotated[list[UploadFile], File(description="image files")]


def form_fields(*allowed: str) -> Any:
    """A dependency refusing form fields the route does not take (422 validation_error naming
    the field), as JSON bodies refuse unknown keys: a misspelt `encodr` was dropped silently."""

    async def check(request: Request) -> None:
        unknown = sorted(set((await request.form()).keys()) - set(allowed))
        if unknown:
            error = {"type": "extra_forbidden", "loc": ("body", unknown[0]), "input": None}
            raise RequestValidationError([{**error, "msg": "Extra inputs are not permitted"}])

    return Depends(check)


@router.post(
    "/embed/upload",
    response_model=EmbedResponse,
    response_model_exclude_none=True,
    dependencies=[ReadAccess, form_fields("files", "encoder", "dim")],
)
async def embed_upload(
    files: Files,
    engine: EngineDep,
    encoder: Annotated[str, Form()] = "face-dlib",
    dim: Annotated[int | None, Form()] = None,
) -> Response:
    inputs = [await f.read() for f in files]
    with fields_renamed({"inputs": "files"}):  # the form's name: `files[2]`, not `inputs[2]`
        vectors, items = await engine.aembed_items(encoder, inputs, dim)  # awaits the batch
    return json_response(embed_answer(encoder, vectors, items))


@router.post(
    "/collections/{name}/points/upload",
    response_model=UpsertResponse,
    dependencies=[WriteAccess, form_fields("files", "ids")],
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
    try:
        return {"upserted": engine.upsert(name, points)}
    except (ServiceError, EncoderError, IndexError_) as exc:  # the form's names, not JSON's
        id_field = r"ids[\1]" if ids is not None else r"files[\1]"
        field = re.sub(r"^points\[(\d+)\]\.input", r"files[\1]", exc.field or "")
        exc.field = re.sub(r"^points\[(\d+)\]\.id", id_field, field) or exc.field
        raise

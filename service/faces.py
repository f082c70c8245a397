"""Face verification: the raw-descriptor distance of two faces against the encoder's threshold.

Each side is an image (its most prominent face) or a stored face point; a stored point keeps
the normalised vector and `descriptor_norm`, whose product is the raw descriptor.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from encoders import EncoderError
from index.errors import CollectionNotFound, PointNotFound
from service.engine import Engine
from service.errors import ServiceError
from service.offload import run
from service.schemas.faces import FaceRef, VerifyRequest


class NotVerifiable(ServiceError):
    code = "not_verifiable"


async def verify(engine: Engine, req: VerifyRequest) -> dict[str, Any]:
    """Distance, threshold used and same-person decision for the two faces of `req`."""
    encoder = (await engine.abatcher(req.encoder)).encoder
    default = getattr(encoder, "threshold", None)
    if default is None:
        raise NotVerifiable(f"encoder {req.encoder!r} has no verification threshold", "encoder")
    threshold = req.threshold if req.threshold is not None else float(default)
    # both sides at once: two images share one batch of the face encoder's handler
    (a, face_a), (b, face_b) = await asyncio.gather(
        _side(engine, req, req.a, "a"), _side(engine, req, req.b, "b")
    )
    distance = float(np.linalg.norm(a - b))
    return {
        "encoder": req.encoder,
        "distance": distance,
        "threshold": threshold,
        "same_person": distance <= threshold,
        "faces": [face_a, face_b],
    }


async def _side(
    engine: Engine, req: VerifyRequest, ref: FaceRef, field: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """The raw descriptor of one side, and what to report about its face."""
    if ref.image_b64 is not None:
        try:
            _, items = await engine.aembed_items(req.encoder, [ref.image_input()], None)
        except EncoderError as exc:  # name the side, not the encoder's input list
            if exc.field is not None and exc.field.startswith("inputs[0]"):
                exc.field = field + exc.field.removeprefix("inputs[0]")
            raise
        face = (items or [{}])[0]["faces"][0]
        raw = np.asarray(face["embedding"]) * face["descriptor_norm"]
        return raw, {"box": face["box"], "score": face["score"]}
    return await run(_stored_side, engine, req, ref, field, inline=False)  # SQLite reads


def _stored_side(
    engine: Engine, req: VerifyRequest, ref: FaceRef, field: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """The raw descriptor of a stored face point."""
    try:
        collection = engine.catalog.get(str(ref.collection))
    except CollectionNotFound as exc:  # the catalog names a path's `name`: here it is this
        exc.field = f"{field}.collection"
        raise
    if collection.config.encoder != req.encoder:
        held = collection.config.encoder
        what = "plain vectors (no encoder)" if held is None else f"{held!r} vectors"
        raise NotVerifiable(
            f"collection {ref.collection!r} holds {what}, not {req.encoder!r}",
            f"{field}.collection",
        )
    try:
        point = collection.vector_of(str(ref.id), f"{field}.id")
    except PointNotFound as exc:  # a photo's id: its faces are points ID#0, ID#1, ...
        if "#" not in str(ref.id) and collection.get([f"{ref.id}#0"]):
            hint = f"{exc.message}: the faces of photo {ref.id!r} are '{ref.id}#0', ..."
            raise PointNotFound(hint, exc.field) from None
        raise
    norm = point.payload.get("descriptor_norm")
    if not isinstance(norm, int | float) or point.vector is None:
        raise NotVerifiable(f"point {point.id!r} is not a stored face", f"{field}.id")
    return point.vector * float(norm), {"id": point.id, "box": point.payload.get("box")}

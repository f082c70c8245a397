"""Bodies of the face endpoints (`POST /v1/faces/verify`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from service.schemas.common import STRICT_REQUEST, PointId


class FaceRef(BaseModel):
    """One side of a verification: an image (with its options) or a stored face point."""

    model_config = STRICT_REQUEST
    image_b64: str | None = None
    num_jitters: int | None = None
    detector: str | None = None
    max_faces: int | None = None  # as on any face input: more faces than this is too_many_faces
    collection: str | None = None
    id: PointId | None = None

    @model_validator(mode="after")
    def _image_or_point(self) -> FaceRef:
        stored = self.collection is not None or self.id is not None
        if (self.image_b64 is not None) == stored:
            raise ValueError("give either image_b64, or collection and id")
        if stored and (self.collection is None or self.id is None):
            raise ValueError("a stored face needs both collection and id")
        return self

    def image_input(self) -> dict[str, Any]:
        """The encoder input object: the image and the options that were given."""
        keys = ("image_b64", "num_jitters", "detector", "max_faces")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class VerifyRequest(BaseModel):
    model_config = STRICT_REQUEST
    a: FaceRef
    b: FaceRef
    encoder: str = "face-dlib"
    threshold: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="default: the encoder's own (0.6)"
    )


class VerifiedFace(BaseModel):
    box: list[int] | None = None
    score: float | None = None
    id: str | None = None  # a stored face point


class VerifyResponse(BaseModel):
    encoder: str
    distance: float  # Euclidean, between raw (unnormalised) descriptors
    threshold: float
    same_person: bool
    metric: str = "euclidean"
    faces: list[VerifiedFace]

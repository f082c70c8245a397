"""Bodies of the point routes: upsert, get, scroll, delete, count."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field, model_validator

from index.plans import Hit
from index.stored_point import StoredPoint
from service.schemas.common import PointId, StrictRequest, Vector, one_of
from service.schemas.filters import FilterDict


class PointIn(StrictRequest):
    id: PointId
    text: str | None = None
    vector: Vector | None = None
    input: Any = None  # a raw input for non-text encoders: a node id, {"image_b64": ...}
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_input(self) -> PointIn:
        one_of(self, ("text", "vector", "input"))
        return self


class UpsertRequest(StrictRequest):
    points: list[PointIn]


class UpsertResponse(BaseModel):
    upserted: int


class PointOut(BaseModel):
    id: str
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None


class PointsPage(BaseModel):
    points: list[PointOut]
    next_offset: str | None = None


class DeletePointsRequest(StrictRequest):
    ids: list[PointId] = Field(default_factory=list)
    filter: FilterDict | None = None


class CountRequest(StrictRequest):
    filter: FilterDict | None = None


class CountResponse(BaseModel):
    count: int


class DeleteResponse(BaseModel):
    deleted: int


def point_dict(
    point: StoredPoint | Hit, with_payload: bool, with_vector: bool, score: float | None = None
) -> dict[str, Any]:
    """The JSON form of a stored point or a search hit, optionally scored, for `json_response`."""
    out: dict[str, Any] = {"id": point.id}
    if score is not None:
        out["score"] = score
    if with_payload:  # the stored JSON text, spliced into the answer by orjson unparsed
        raw = point.payload_json
        out["payload"] = None if raw is None else orjson.Fragment(raw)
    if with_vector and point.vector is not None:
        out["vector"] = point.vector.tolist()
    return out

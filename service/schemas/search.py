"""Bodies of POST /v1/collections/{name}/search and its batch form."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from service.schemas.common import PointId, StrictRequest, Vector, one_of
from service.schemas.filters import FilterDict, ParamsDict


class Query(StrictRequest):
    text: str | None = None
    vector: Vector | None = None
    id: PointId | None = None
    input: Any = None  # a raw input for non-text encoders: a node id, {"image_b64": ...}

    @model_validator(mode="after")
    def _one_query(self) -> Query:
        one_of(self, ("text", "vector", "id", "input"))
        return self


class Funnel(StrictRequest):
    """Shortlist on the first `dims[0]` dims, re-rank through the later dims, then exactly."""

    dims: list[int] = Field(min_length=1)
    shortlist: int | list[int] = 200  # candidates kept after each tier (one value: all tiers)
    # how the first tier is searched: an HNSW graph over the prefix, or a flat scan (null: hnsw)
    tier: Literal["hnsw", "flat"] | None = None
    ef: int | None = Field(None, ge=1, le=32768)  # the hnsw tier's beam (null: the shortlist)


class SearchRequest(StrictRequest):
    query: Query
    k: int = Field(10, ge=1)
    filter: FilterDict | None = None
    params: ParamsDict | None = None
    with_payload: bool = True
    with_vector: bool = False
    domain: str | None = None  # domain-routed encoders: the query's domain (else the router's)
    funnel: Funnel | None = None  # Matryoshka funnel: low-dim shortlist, full-dim re-rank


class ScoredPoint(BaseModel):
    id: str
    score: float
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None


class SearchResponse(BaseModel):
    results: list[ScoredPoint]


class BatchSearchRequest(StrictRequest):
    searches: list[SearchRequest]


class BatchSearchResponse(BaseModel):
    results: list[list[ScoredPoint]]

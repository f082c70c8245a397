"""Request and response bodies of the v1 REST API (shapes from the API contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from index.collection import Hit
from index.store import StoredPoint

PointId = StrictStr | StrictInt  # integers are accepted and stored as their decimal string


def one_of(model: BaseModel, names: tuple[str, ...]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of: {', '.join(names)}")


class ErrorBody(BaseModel):
    """Every error the service returns."""

    code: str
    message: str
    field: str | None = None


ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 415, 422, 429)
# Declared app-wide so the OpenAPI document shows the real error shape (FastAPI would otherwise
# advertise its own 422 body, which this service never sends).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in ERROR_STATUSES
}


# Every request model forbids unknown fields: a typo ("fliter", "limit") is a 422 that names
# it, never a silently ignored option.
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# embeddings ---------------------------------------------------------------------------------
class EmbedRequest(_Request):
    encoder: str
    inputs: list[Any]
    dim: int | None = None
    # Domain-routed encoders (the MoE): one domain for every input, or one per input.
    domain: str | list[str] | None = None


class EmbedResponse(BaseModel):
    encoder: str
    dim: int
    embeddings: list[list[float]]
    # Per-input reports of encoders that give them (chosen domain, faces found); else absent.
    items: list[dict[str, Any]] | None = None


class OpenAIEmbeddingsRequest(_Request):
    """OpenAI's body: every field its SDK sends; `user` is accepted and ignored, others refused."""

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None  # OpenAI's end-user id for abuse monitoring: nothing to do here


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


# collections --------------------------------------------------------------------------------
class IndexSpec(_Request):
    type: str = "hnsw"
    params: dict[str, Any] = Field(default_factory=dict)


class CreateCollectionRequest(_Request):
    name: str
    encoder: str | None = None
    dim: int | None = None
    metric: str = "cosine"
    index: IndexSpec = Field(default_factory=IndexSpec)
    domain: str | None = None  # domain-routed encoders: fixes the domain of the documents
    # in-memory payload indexes, {dotted key: keyword | integer | float | bool}
    payload_indexes: dict[str, str] = Field(default_factory=dict)


class PayloadIndexRequest(_Request):
    """Qdrant's `create_payload_index` body (its names): the type is checked by the index."""

    field_name: str
    field_schema: str


class PayloadIndexInfo(BaseModel):
    field_name: str
    field_schema: str


class PayloadIndexDeleted(BaseModel):
    field_name: str
    deleted: bool


class CollectionInfo(BaseModel):
    name: str
    encoder: str | None
    dim: int
    metric: str
    index: IndexSpec
    count: int
    tombstone_ratio: float = 0.0
    domain: str | None = None
    payload_indexes: dict[str, str] = Field(default_factory=dict)


class CollectionList(BaseModel):
    collections: list[CollectionInfo]


# points -------------------------------------------------------------------------------------
class PointIn(_Request):
    id: PointId
    text: str | None = None
    vector: list[float] | None = None
    input: Any = None  # a raw input for non-text encoders: a node id, {"image_b64": ...}
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_input(self) -> PointIn:
        one_of(self, ("text", "vector", "input"))
        return self


class UpsertRequest(_Request):
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


class DeletePointsRequest(_Request):
    ids: list[PointId] = Field(default_factory=list)
    filter: dict[str, Any] | None = None


class CountRequest(_Request):
    filter: dict[str, Any] | None = None


class CountResponse(BaseModel):
    count: int


class TrainResponse(BaseModel):
    trained: bool
    count: int


class DeleteResponse(BaseModel):
    deleted: int


# search -------------------------------------------------------------------------------------
class Query(_Request):
    text: str | None = None
    vector: list[float] | None = None
    id: PointId | None = None
    input: Any = None  # a raw input for non-text encoders: a node id, {"image_b64": ...}

    @model_validator(mode="after")
    def _one_query(self) -> Query:
        one_of(self, ("text", "vector", "id", "input"))
        return self


class Funnel(_Request):
    """Shortlist on the first `dims[0]` dims, re-rank through the later dims, then exactly."""

    dims: list[int] = Field(min_length=1)
    shortlist: int | list[int] = 200  # candidates kept after each tier (one value: all tiers)
    # how the first tier is searched: an HNSW graph over the prefix, or a flat scan (null: hnsw)
    tier: Literal["hnsw", "flat"] | None = None
    ef: int | None = Field(None, ge=1, le=32768)  # the hnsw tier's beam (null: the shortlist)


class SearchRequest(_Request):
    query: Query
    k: int = Field(10, ge=1)
    filter: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
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


class BatchSearchRequest(_Request):
    searches: list[SearchRequest]


class BatchSearchResponse(BaseModel):
    results: list[list[ScoredPoint]]


def point_dict(
    point: StoredPoint | Hit, with_payload: bool, with_vector: bool, score: float | None = None
) -> dict[str, Any]:
    """The JSON form of a stored point or a search hit, optionally scored."""
    out: dict[str, Any] = {"id": point.id}
    if score is not None:
        out["score"] = score
    if with_payload:
        out["payload"] = point.payload
    if with_vector and point.vector is not None:
        out["vector"] = point.vector.tolist()
    return out

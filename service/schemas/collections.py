"""Bodies of the collection routes: create, describe, list, train, payload indexes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictInt

from service.schemas.common import StrictRequest


class IndexSpec(StrictRequest):
    type: str = "hnsw"
    params: dict[str, Any] = Field(default_factory=dict)


class CreateCollectionRequest(StrictRequest):
    name: str
    encoder: str | None = None
    dim: StrictInt | None = None  # `true` is not a 1-d collection
    metric: str = "cosine"
    index: IndexSpec = Field(default_factory=IndexSpec)
    domain: str | None = None  # domain-routed encoders: fixes the domain of the documents
    # in-memory payload indexes, {dotted key: keyword | integer | float | bool}
    payload_indexes: dict[str, str] = Field(default_factory=dict)


class PayloadIndexRequest(StrictRequest):
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


class TrainResponse(BaseModel):
    trained: bool
    count: int

"""Bodies of the Qdrant-compatible routes, in Qdrant's own field names (its REST OpenAPI).

Fields Qdrant accepts but nestvec has no use for (sharding, consistency, quantization, WAL and
optimizer settings) are accepted and ignored, so unchanged clients work; any other field is
refused, as Qdrant refuses it. Filters stay raw here: index.filters validates them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from service.schemas.common import StrictRequest, Vector
from service.schemas.json_path import object_keys

QdrantId = StrictInt | StrictStr  # an unsigned integer or a UUID string
# with_payload: a flag, the keys to keep, or {"include": [...]} / {"exclude": [...]}
WithPayload = StrictBool | list[StrictStr] | dict[str, list[StrictStr]]
WithVector = StrictBool | list[StrictStr]
Ignored = Any  # a Qdrant option with no counterpart here: accepted, ignored


def with_vector_field() -> Any:
    """`with_vector`, also spelt `with_vectors` (Qdrant's serde alias; it was a 422 here)."""
    return Field(False, validation_alias=AliasChoices("with_vector", "with_vectors"))


class HnswConfigDiff(StrictRequest):
    """Qdrant's HNSW settings: m and ef_construct map onto the hnsw backend, the rest are accepted
    and ignored (a misspelt key is refused, not silently dropped)."""

    m: StrictInt | None = None
    ef_construct: StrictInt | None = None
    full_scan_threshold: Ignored = None
    max_indexing_threads: Ignored = None
    on_disk: Ignored = None
    memory: Ignored = None
    payload_m: Ignored = None
    inline_storage: Ignored = None


class VectorParams(StrictRequest):
    size: StrictInt = Field(ge=1)
    distance: str
    hnsw_config: HnswConfigDiff | None = None
    quantization_config: Ignored = None
    on_disk: Ignored = None
    datatype: Ignored = None
    multivector_config: dict[str, Any] | None = None


class CreateCollection(StrictRequest):
    vectors: VectorParams | dict[str, VectorParams] | None = None
    hnsw_config: HnswConfigDiff | None = None
    shard_number: Ignored = None
    sharding_method: Ignored = None
    replication_factor: Ignored = None
    write_consistency_factor: Ignored = None
    on_disk_payload: Ignored = None
    wal_config: Ignored = None
    optimizers_config: Ignored = None
    quantization_config: Ignored = None
    sparse_vectors: dict[str, Any] | None = None
    strict_mode_config: Ignored = None
    init_from: dict[str, Any] | None = None  # refused when given: see to_create_request
    metadata: dict[str, Any] | None = None


class PointStruct(StrictRequest):
    id: QdrantId
    vector: Vector | dict[str, Any]
    payload: dict[str, Any] | None = None


class Batch(StrictRequest):
    ids: list[QdrantId]
    vectors: list[Vector] | dict[str, Any]
    payloads: list[dict[str, Any] | None] | None = None


class UpsertPoints(StrictRequest):
    points: list[PointStruct] | None = None
    batch: Batch | None = None
    shard_key: Ignored = None
    update_filter: dict[str, Any] | None = None


class Retrieve(StrictRequest):
    ids: list[QdrantId]
    with_payload: WithPayload | None = True
    with_vector: WithVector = with_vector_field()
    shard_key: Ignored = None


class Scroll(StrictRequest):
    offset: QdrantId | None = None
    limit: int | None = Field(None, ge=1)
    filter: dict[str, Any] | None = None
    with_payload: WithPayload | None = True
    with_vector: WithVector = with_vector_field()
    order_by: Any = None
    shard_key: Ignored = None


class Count(StrictRequest):
    filter: dict[str, Any] | None = None
    exact: StrictBool = True
    shard_key: Ignored = None


class Selector(StrictRequest):
    """Points by ids or by a filter (Qdrant's PointsSelector, both of its shapes)."""

    points: list[QdrantId] | None = None
    filter: dict[str, Any] | None = None
    shard_key: Ignored = None


def _object_path(key: str) -> str:
    """A path of object keys (`a.b`, `a."x.y"`: Qdrant's quoting for a key holding a dot);
    array steps (`l[0]`, `l[]`) are not supported here, and an empty key would write a key ""."""
    object_keys(key)  # raises ValueError naming what is wrong
    return key


ObjectPath = Annotated[StrictStr, AfterValidator(_object_path)]


class SetPayload(Selector):
    payload: dict[str, Any]
    key: ObjectPath | None = None


class DeletePayload(Selector):
    keys: list[ObjectPath]


class SearchParams(StrictRequest):
    hnsw_ef: int | None = Field(None, ge=1)
    exact: StrictBool = False
    quantization: Ignored = None
    indexed_only: Ignored = None
    acorn: Ignored = None


def _default_when_null(default: int) -> BeforeValidator:
    """Qdrant's `limit` and `offset` are optional: null means its default, not a 422."""
    return BeforeValidator(lambda value: default if value is None else value)


class _Query(StrictRequest):
    filter: dict[str, Any] | None = None
    params: SearchParams | None = None
    limit: Annotated[int, _default_when_null(10)] = Field(10, ge=1)
    offset: Annotated[int, _default_when_null(0)] = Field(0, ge=0)
    with_payload: WithPayload | None = None
    with_vector: WithVector = with_vector_field()
    score_threshold: float | None = Field(None, allow_inf_nan=False)
    shard_key: Ignored = None


class Search(_Query):
    vector: Vector | dict[str, Any]


class Recommend(_Query):
    positive: list[QdrantId | Vector] = Field(default_factory=list)
    negative: list[QdrantId | Vector] = Field(default_factory=list)
    strategy: str | None = None
    using: StrictStr | None = None
    lookup_from: Any = None


class RecommendInput(StrictRequest):
    positive: list[QdrantId | Vector] | None = None
    negative: list[QdrantId | Vector] | None = None
    strategy: str | None = None


class QueryPoints(_Query):
    # a vector, a point id, {"nearest": ...} or {"recommend": {...}}; the rest is refused
    query: Any = None
    using: StrictStr | None = None
    prefetch: Any = None
    lookup_from: Any = None


class QueryBatch(StrictRequest):
    searches: list[QueryPoints]


class PayloadIndex(StrictRequest):
    field_name: StrictStr
    field_schema: StrictStr | dict[str, Any] | None = None


class Envelope(BaseModel):
    """Every Qdrant answer: the result, "ok", and the seconds it took."""

    model_config = ConfigDict(extra="allow")
    result: Any = None
    status: str = "ok"
    time: float = 0.0

"""Request and response bodies of the analysis endpoints (also the CLI's validated knobs)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DEFAULT_SAMPLE = 20_000
MAX_SAMPLE = 200_000
DEFAULT_ORDERS = ("random", "lid-desc", "lid-asc", "cluster")
MAX_SEED = 2**31 - 1  # faiss k-means takes a C int

# each seed and order builds an index of up to the sample: a request's lists stay short
MAX_SEEDS, MAX_EFS = 16, 32
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Ef = Annotated[int, Field(ge=1, le=32768)]  # the bounds of the backends' `ef`

Sample = Field(
    DEFAULT_SAMPLE, ge=2, le=MAX_SAMPLE, description="stored vectors drawn at random (at most)"
)


class _Strict(BaseModel):
    # as the service's other bodies: `k: "5"` or `true` is a 422, not taken as 5 or 1
    model_config = ConfigDict(extra="forbid", strict=True)


class _QueriesOrVectors(_Strict):
    """Queries sampled from the collection (held out), or given as vectors: not both."""

    queries: int | None = Field(None, ge=1, description="stored vectors sampled as queries")
    query_vectors: list[list[float]] | None = Field(None, min_length=1)  # an error names it

    @field_validator("query_vectors")
    @classmethod
    def _not_both(cls, vectors: list[list[float]] | None, info: ValidationInfo) -> Any:
        # on the field, not the model: the error then names `query_vectors` (it named none)
        if vectors is not None and info.data.get("queries") is not None:
            raise ValueError("give either queries or query_vectors, not both")
        return vectors


# intrinsic dimension ------------------------------------------------------------------------
class IntrinsicDimensionRequest(_Strict):
    k: int | None = Field(None, ge=2, description="neighbours of the estimates; default 20")
    lid_k: int | None = Field(None, ge=2, description="neighbours of pointwise LID; default 100")
    sample: int = Sample
    seed: Seed = Field(0, description="seed of the sample")


class IntrinsicDimensionResponse(BaseModel):
    mle: float | None
    twonn: float | None
    pca99: int
    lid_mean: float | None
    lid_median: float | None
    n: int
    n_distinct: int
    dim: int
    k: int
    lid_k: int
    plot_url: str


# insertion order ----------------------------------------------------------------------------
class InsertionOrderRequest(_QueriesOrVectors):
    orders: list[str] = Field(default_factory=lambda: list(DEFAULT_ORDERS), min_length=1)
    category_field: str | None = Field(None, description="payload key of the 'category' order")
    n_clusters: int | None = Field(None, ge=1, description="clusters of the cluster orders")
    k: int = Field(10, ge=1)
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=MAX_SEEDS)
    ef_search: list[Ef] = Field(default_factory=lambda: [10, 40], min_length=1, max_length=MAX_EFS)
    libraries: list[str] = Field(default_factory=lambda: ["hnswlib", "faiss-hnsw"], min_length=1)
    M: int = Field(16, ge=2, le=256)
    ef_construction: int = Field(128, ge=1, le=4096)
    sample: int = Sample
    seed: Seed = Field(0, description="seed of the sample and the held-out queries")


class InsertionOrderResponse(BaseModel):
    """`index.analysis.OrderReport.to_dict()` plus the plot's URL."""

    model_config = ConfigDict(extra="allow")
    recommended: str
    plot_url: str


# recall -------------------------------------------------------------------------------------
class RecallRequest(_QueriesOrVectors):
    k: int = Field(10, ge=1)
    params: dict[str, Any] = Field(default_factory=dict, description="backend search knobs")
    target_recall: float | None = Field(None, gt=0, le=1, description="autotune ef/nprobe")
    seed: Seed = Field(0, description="seed of the sampled queries")


class AutotuneRowOut(BaseModel):
    value: int
    recall: float
    qps: float
    seconds: float


class AutotuneOut(BaseModel):
    knob: str
    value: int
    recall: float
    qps: float
    reached: bool
    target_recall: float
    table: list[AutotuneRowOut]


class RecallResponse(BaseModel):
    recall: float
    k: int
    queries: int
    query_ids: list[str] | None = None
    params: dict[str, Any]
    autotune: AutotuneOut | None = None
    note: str | None = None
    plot_url: str


# rebuild ------------------------------------------------------------------------------------
class RebuildRequest(_Strict):
    insertion_order: str | None = Field(None, description="an order name; null: label order")
    seed: Seed = 0


class RebuildResponse(BaseModel):
    rebuilt: bool
    insertion_order: str | None
    count: int


# funnel -------------------------------------------------------------------------------------
class FunnelRecallRequest(_QueriesOrVectors):
    k: int = Field(10, ge=1)
    dims: list[int] | None = Field(
        None, min_length=1, description="tier dims; default: the encoder's nested dims"
    )
    shortlist: int = Field(200, ge=1, description="candidates a tier passes on")
    seed: Seed = Field(0, description="seed of the sampled queries")


class TierRecall(BaseModel):
    dim: int
    recall: float


class FunnelRecall(BaseModel):
    dims: list[int]
    shortlist: int
    recall: float


class FunnelRecallResponse(BaseModel):
    k: int
    queries: int
    query_ids: list[str] | None = None
    dim: int
    tiers: list[TierRecall]
    funnels: list[FunnelRecall]
    plot_url: str

"""Bodies of POST /v1/collections/{name}/recommend."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.schemas.common import STRICT_REQUEST, PointId
from service.schemas.filters import FilterDict, ParamsDict
from service.schemas.search import ScoredPoint

Example = PointId | list[float]  # as in Qdrant: a stored point's id, or a raw vector


class HistoryItem(BaseModel):
    model_config = STRICT_REQUEST
    id: PointId
    # any increasing scale; none given: list order is time order (NaN has no order)
    timestamp: float | None = Field(None, allow_inf_nan=False)


class RecommendRequest(BaseModel):
    """Either `positive`/`negative` examples with a `strategy`, or a user `history`."""

    model_config = STRICT_REQUEST
    positive: list[Example] | None = None
    negative: list[Example] | None = None
    strategy: str = "average_vector"
    history: list[HistoryItem] | None = None
    interests: int | None = Field(None, ge=1, le=64, description="K; default from history size")
    short_term: int | None = Field(None, ge=0, description="latest items forming the short term")
    merge: str = "round_robin"  # uses the interests' weights; "max" ignores them
    # MMR re-picks k from the merged pool (3k per interest) by lambda * score - (1 - lambda) *
    # max cosine to the picks so far; score = similarity to the interest that found the point
    mmr_lambda: float | None = Field(None, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of the interests' clustering")
    k: int = Field(10, ge=1)
    filter: FilterDict | None = None
    params: ParamsDict | None = None
    with_payload: bool = True
    with_vector: bool = False


class RecommendHit(ScoredPoint):
    interest: int | None = None  # history mode: the interest whose search found this point


class InterestOut(BaseModel):
    index: int
    term: Literal["long", "short", "all"]
    weight: float
    members: list[str]  # the history ids clustered into this interest


class RecommendResponse(BaseModel):
    results: list[RecommendHit]
    interests: list[InterestOut] | None = None

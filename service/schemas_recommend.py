"""Bodies of POST /v1/collections/{name}/recommend, POST /v1/rank and TEI's POST /rerank."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import PointId, ScoredPoint

Example = PointId | list[float]  # as in Qdrant: a stored point's id, or a raw vector


# recommend --------------------------------------------------------------------------------------
class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: PointId
    timestamp: float | None = None  # any increasing scale; none given: list order is time order


class RecommendRequest(BaseModel):
    """Either `positive`/`negative` examples with a `strategy`, or a user `history`."""

    model_config = ConfigDict(extra="forbid")
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
    seed: int = 0
    k: int = Field(10, ge=1)
    filter: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
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


# rank (Cohere / infinity shape) -----------------------------------------------------------------
class RankDocument(BaseModel):
    # A Cohere document object is data with any fields (`rank_fields` picks among them); it is
    # ranked by its `text`, and its other fields are content, not options: ignored, not refused.
    model_config = ConfigDict(extra="ignore")
    text: str


class RankRequest(BaseModel):
    """Cohere's (and infinity's) body; candidates are `documents` (texts), or `ids` of points in
    `collection` (their stored vectors, or payload texts when ranked with another encoder).

    Unknown fields are refused; the other fields Cohere's and infinity's clients send are
    accepted and ignored: documents are ranked whole by `text`, scores are cosine similarities.
    """

    model_config = ConfigDict(extra="forbid")

    query: str
    documents: list[str | RankDocument] | None = None
    ids: list[PointId] | None = None
    collection: str | None = None
    model: str | None = None
    encoder: str | None = None  # the native name of `model`; give one of them
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False
    text_field: str = "text"  # payload key holding a point's text (ids ranked by another encoder)
    dim: int | None = None
    domain: str | None = None
    # accepted and ignored (see above)
    max_chunks_per_doc: int | None = None  # Cohere v1
    max_tokens_per_doc: int | None = None  # Cohere v2
    rank_fields: list[str] | None = None  # Cohere v1: documents are ranked by `text`
    raw_scores: bool = False  # infinity


class RankResult(BaseModel):
    index: int
    relevance_score: float
    document: RankDocument | None = None
    id: str | None = None


class RankResponse(BaseModel):
    object: Literal["rerank"] = "rerank"
    model: str
    results: list[RankResult]


# rerank (Hugging Face text-embeddings-inference shape) ------------------------------------------
class TEIRerankRequest(BaseModel):
    """TEI's body; `truncate`/`truncation_direction`/`raw_scores` are accepted (inputs are always
    truncated to the model's length, and scores are cosine similarities either way); unknown
    fields are refused."""

    model_config = ConfigDict(extra="forbid")

    query: str
    texts: list[str]
    return_text: bool = False
    raw_scores: bool = False
    truncate: bool = False
    truncation_direction: str = "right"
    model: str | None = None  # not in TEI (one model per server): the encoder to use


class TEIRank(BaseModel):
    index: int
    score: float
    text: str | None = None

"""Bodies of POST /v1/rank (Cohere / infinity shape) and TEI's POST /rerank."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import STRICT_REQUEST, PointId


class RankDocument(BaseModel):
    # A Cohere document object is data with any fields: ranked by `text`, or by the fields that
    # `rank_fields` names; its other fields are content, not options (kept, never refused).
    model_config = ConfigDict(extra="allow")
    text: str | None = None

    def ranked_text(self, fields: list[str] | None, where: str) -> str:
        """Cohere's rule: the named fields in order, one `name: value` line each; `text` alone
        when none are named."""
        if not fields:
            if self.text is None:
                raise ValueError(f"{where} has no 'text' (or name its fields in rank_fields)")
            return self.text
        values = {"text": self.text, **(self.model_extra or {})}
        lines = [f"{f}: {values[f]}" for f in fields if values.get(f) is not None]
        if not lines:
            raise ValueError(f"{where} has none of the rank_fields {fields}")
        return "\n".join(lines)


class RankRequest(BaseModel):
    """Cohere's (and infinity's) body; candidates are `documents` (texts), or `ids` of points in
    `collection` (their stored vectors, or payload texts when ranked with another encoder).

    Unknown fields are refused; the other fields Cohere's and infinity's clients send are
    accepted and ignored: documents are ranked whole by `text`. A score is the cosine c as
    (1 + c) / 2, in [0, 1] as Cohere's relevance_score; `raw_scores` (infinity's) gives c.
    """

    model_config = STRICT_REQUEST

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
    priority: int | None = None  # Cohere v2's scheduling hint: one queue here
    rank_fields: list[str] | None = None  # Cohere v1: which fields of document objects rank
    raw_scores: bool = False  # infinity's: the cosine itself, not (1 + c) / 2


class RankResult(BaseModel):
    index: int
    relevance_score: float
    document: RankDocument | None = None
    id: str | None = None


class RankResponse(BaseModel):
    object: Literal["rerank"] = "rerank"
    model: str
    results: list[RankResult]


class TEIRerankRequest(BaseModel):
    """TEI's body; `truncate`/`truncation_direction` are accepted (inputs are always truncated to
    the model's length); scores are cosines c as (1 + c) / 2, in [0, 1], or c with
    `raw_scores`; unknown fields are refused."""

    model_config = STRICT_REQUEST

    query: str
    texts: list[str]
    return_text: bool = False
    raw_scores: bool = False
    truncate: bool | None = None  # TEI's Option<bool>: null is sent by its clients
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"
    model: str | None = None  # not in TEI (one model per server): the encoder to use


class TEIRank(BaseModel):
    index: int
    score: float
    text: str | None = None

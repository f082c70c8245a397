"""Bodies of the routes other servers' clients call: OpenAI's models, TEI's /embed and /info,
Cohere's v2 embed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from service.schemas.common import StrictRequest
from service.schemas.rank import RankResult


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int  # Unix seconds: when this server started serving it
    owned_by: str


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class TEIEmbedRequest(StrictRequest):
    """TEI's body. Vectors are always L2-normalised and inputs cut at the model's length, so
    `normalize: false` is refused and `truncate` is accepted either way."""

    # TEI also takes token ids (its Ids input), read here only to refuse them by name
    inputs: str | list[str] | list[StrictInt] | list[list[StrictInt]]
    normalize: StrictBool = True  # "yes" is not a flag
    truncate: StrictBool | None = None
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"
    prompt_name: str | None = None
    dimensions: StrictInt | None = Field(None, ge=1, description="a nested (Matryoshka) dimension")


class CohereEmbedRequest(StrictRequest):
    """Cohere's v2 embed body (`cohere.ClientV2().embed`): texts only; `input_type` is accepted
    (these models take no prompts), `output_dimension` is a nested (Matryoshka) dimension."""

    model: str
    texts: list[str] | None = None
    images: list[Any] | None = None
    inputs: list[Any] | None = None
    # Cohere's five; a misspelt one was taken silently (they change nothing for these models)
    input_type: (
        Literal["search_document", "search_query", "classification", "clustering", "image"] | None
    ) = None
    embedding_types: list[str] | None = None
    output_dimension: StrictInt | None = Field(None, ge=1)
    max_tokens: StrictInt | None = None
    truncate: Literal["NONE", "START", "END"] | None = None
    priority: StrictInt | None = None


class TEIPooling(BaseModel):
    pooling: str


class TEIModelType(BaseModel):
    embedding: TEIPooling


class TEIInfo(BaseModel):
    """TEI's `GET /info`; the limits are this server's settings."""

    model_id: str
    served_model_name: str  # required in TEI's Info since v1.9
    model_sha: str | None = None
    model_dtype: str
    model_type: TEIModelType
    max_concurrent_requests: int
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int | None = None
    max_client_batch_size: int
    auto_truncate: bool
    tokenization_workers: int
    version: str
    sha: str | None = None
    docker_label: str | None = None


class CohereApiVersion(BaseModel):
    version: str


class CohereBilledUnits(BaseModel):
    search_units: int


class CohereMeta(BaseModel):
    api_version: CohereApiVersion
    billed_units: CohereBilledUnits


class CohereRerankResponse(BaseModel):
    """Cohere's rerank answer; `results` as /v1/rank gives them, best first."""

    id: str
    results: list[RankResult]
    meta: CohereMeta


class CohereEmbeddingsByType(BaseModel):
    float: list[list[float]]  # noqa: A003 - Cohere's key; the only type served


class CohereEmbedInputTokens(BaseModel):
    input_tokens: int


class CohereEmbedMeta(BaseModel):
    api_version: CohereApiVersion
    billed_units: CohereEmbedInputTokens


class CohereEmbedResponse(BaseModel):
    """Cohere's v2 embed answer (`embeddings_by_type`): documents the route's schema, which
    was an empty object."""

    id: str
    embeddings: CohereEmbeddingsByType
    texts: list[str]
    meta: CohereEmbedMeta
    response_type: Literal["embeddings_by_type"]

"""Bodies of POST /v1/embed and the OpenAI-compatible POST /v1/embeddings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, StrictInt, model_validator

from service.schemas.common import StrictRequest


class EmbedRequest(StrictRequest):
    encoder: str
    inputs: list[Any]
    dim: StrictInt | None = None  # `true` or "32" is not a dimension
    # Domain-routed encoders (the MoE): one domain for every input, or one per input.
    domain: str | list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_cohere_v1(cls, data: Any) -> Any:
        # cohere.Client().embed posts {"model", "texts"} to this path: say where it belongs
        # ("encoder: Field required" named a field that client never heard of)
        if isinstance(data, dict) and "texts" in data and "inputs" not in data:
            raise ValueError(
                "this is nestvec's embed ({encoder, inputs}); Cohere's embed body goes to "
                "POST /v2/embed (cohere.ClientV2)"
            )
        return data


class EmbedResponse(BaseModel):
    encoder: str
    dim: int
    embeddings: list[list[float]]
    # Per-input reports of encoders that give them (chosen domain, faces found); else absent.
    items: list[dict[str, Any]] | None = None


class OpenAIEmbeddingsRequest(StrictRequest):
    """OpenAI's body: every field its SDK sends; `user` is accepted and ignored, others refused."""

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    dimensions: StrictInt | None = None
    encoding_format: Literal["float", "base64"] | None = None  # null or absent: float
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

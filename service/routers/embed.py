"""POST /v1/embed (native) and POST /v1/embeddings (OpenAI-compatible)."""

import base64

import numpy as np
from fastapi import APIRouter

from service.deps import EngineDep, ReadAccess
from service.errors import UnsupportedInput
from service.routers import JsonRoute
from service.schemas import (
    EmbedRequest,
    EmbedResponse,
    OpenAIEmbeddingsRequest,
    OpenAIEmbeddingsResponse,
)

router = APIRouter(
    route_class=JsonRoute, prefix="/v1", tags=["embeddings"], dependencies=[ReadAccess]
)


@router.post("/embed", response_model=EmbedResponse, response_model_exclude_none=True)
def embed(req: EmbedRequest, engine: EngineDep) -> dict[str, object]:
    vectors, items = engine.embed_items(req.encoder, req.inputs, req.dim, domain=req.domain)
    return {
        "encoder": req.encoder,
        "dim": vectors.shape[1],
        "embeddings": vectors.tolist(),
        "items": items,
    }


@router.post("/embeddings", response_model=OpenAIEmbeddingsResponse)
def embeddings(req: OpenAIEmbeddingsRequest, engine: EngineDep) -> dict[str, object]:
    texts = [req.input] if isinstance(req.input, str) else req.input
    if any(not isinstance(t, str) for t in texts):
        # OpenAI token arrays are tiktoken ids; they mean nothing to this service's tokenizers.
        raise UnsupportedInput("token-id inputs are not supported; send strings", "input")
    encoder, vectors = engine.embed(req.model, texts, req.dimensions)
    tokens = encoder.count_tokens(texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, req.encoding_format)}
            for i, v in enumerate(vectors)
        ],
        "model": req.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        # OpenAI's format: the little-endian float32 bytes, base64-encoded.
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()  # type: ignore[no-any-return]

"""POST /v1/embed (native) and POST /v1/embeddings (OpenAI-compatible).

Both are async: they await the encoder's batch handler on the event loop, so concurrency is
bounded by its queue (429 `overloaded` when full), not by the worker-thread pool. Answers are
serialised once with orjson straight from the float32 arrays.
"""

import base64

import numpy as np
from fastapi import APIRouter, Response

from encoders.base import Encoder
from service.deps import EngineDep, ReadAccess
from service.errors import UnsupportedInput, fields_renamed
from service.offload import run
from service.responses import json_response
from service.routers import LeanRoute
from service.schemas.embed import (
    EmbedRequest,
    EmbedResponse,
    OpenAIEmbeddingsRequest,
    OpenAIEmbeddingsResponse,
)

# Counting tokens runs the tokenizer: inline for a few short texts (a thread hop costs more), on
# a worker thread for big requests so the event loop keeps serving others meanwhile (one 10 MB
# text counted inline stalled every other request for 15 s).
INLINE_TOKEN_COUNT, INLINE_TOKEN_CHARS = 32, 65_536
# the shared embed path names fields as /v1/embed's body does; OpenAI's body spells them so
OPENAI_FIELDS = {"inputs": "input", "dim": "dimensions", "encoder": "model"}

router = APIRouter(
    route_class=LeanRoute, prefix="/v1", tags=["embeddings"], dependencies=[ReadAccess]
)


@router.post("/embed", response_model=EmbedResponse, response_model_exclude_none=True)
async def embed(req: EmbedRequest, engine: EngineDep) -> Response:
    """Vectors (and, for item encoders, what they report per input) for `inputs`."""
    vectors, items = await engine.aembed_items(req.encoder, req.inputs, req.dim, domain=req.domain)
    return json_response(embed_answer(req.encoder, vectors, items))


def embed_answer(
    encoder: str, vectors: np.ndarray, items: list[dict[str, object]] | None
) -> dict[str, object]:
    """The body of an embed answer; `items` left out when the encoder reports none."""
    body: dict[str, object] = {"encoder": encoder, "dim": vectors.shape[1], "embeddings": vectors}
    if items is not None:
        body["items"] = items
        if any(isinstance(value, list) for item in items for value in item.values()):
            # an item may repeat a vector as Python floats (a face's embedding): written as
            # float64 too, the two stay equal once parsed; the MoE's domains hold none
            body["embeddings"] = vectors.astype(np.float64)
    return body


@router.post("/embeddings", response_model=OpenAIEmbeddingsResponse)
async def embeddings(req: OpenAIEmbeddingsRequest, engine: EngineDep) -> Response:
    """OpenAI's embeddings endpoint: `model` names the encoder; float or base64 vectors."""
    texts = [req.input] if isinstance(req.input, str) else req.input
    if any(not isinstance(t, str) for t in texts):
        # OpenAI token arrays are tiktoken ids; they mean nothing to this service's tokenizers.
        raise UnsupportedInput(
            "token-id inputs are not supported (they are tiktoken ids, not this model's); send "
            "strings (LangChain's OpenAIEmbeddings: check_embedding_ctx_length=False)",
            "input",
        )
    with fields_renamed(OPENAI_FIELDS):
        encoder, vectors = await engine.aembed(req.model, texts, req.dimensions)
    tokens = await count_tokens(encoder, texts)
    return json_response(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": row}
                for i, row in enumerate(_rows(vectors, req.encoding_format))
            ],
            "model": req.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


async def count_tokens(encoder: Encoder, texts: list[str]) -> int:
    """Tokens the encoder used for `texts`, counted off the event loop unless few and short."""
    inline = len(texts) <= INLINE_TOKEN_COUNT and sum(map(len, texts)) <= INLINE_TOKEN_CHARS
    return int(await run(encoder.count_tokens, texts, inline=inline))


def _rows(vectors: np.ndarray, encoding_format: str | None) -> list[np.ndarray] | list[str]:
    """Per-row embeddings: float32 rows for orjson, or base64 of their bytes (no float lists)."""
    matrix = np.ascontiguousarray(vectors, dtype="<f4")
    if encoding_format == "base64":
        # OpenAI's format: the little-endian float32 bytes, base64-encoded, sliced per row.
        raw, width = memoryview(matrix.tobytes()), matrix.shape[1] * 4
        return [
            base64.b64encode(raw[i * width : (i + 1) * width]).decode() for i in range(len(matrix))
        ]
    return list(matrix)

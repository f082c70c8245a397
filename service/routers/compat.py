"""Routes other servers' clients expect: OpenAI's `GET /v1/models`; TEI's `POST /embed` (and
`POST /`), `GET /info` and `GET /health`, served by the default encoder (NESTVEC_DEFAULT_ENCODER);
Cohere's `POST /v2/embed`.

TEI's embeddings go through the encoder's batch handler like `/v1/embeddings` (async, 429 when
its queue is full).
"""

import time
import uuid

import numpy as np
from fastapi import APIRouter, Response

from encoders import available_encoders
from encoders.registry import encoder_class
from service.deps import EngineDep, ReadAccess
from service.errors import UnsupportedInput, fields_renamed
from service.responses import json_response
from service.routers import JsonRoute
from service.routers.embed import count_tokens
from service.schemas.compat import (
    CohereEmbedRequest,
    CohereEmbedResponse,
    OpenAIModel,
    OpenAIModelList,
    TEIEmbedRequest,
    TEIInfo,
)
from service.version import nestvec_version

router = APIRouter(route_class=JsonRoute, dependencies=[ReadAccess])
STARTED = int(time.time())  # OpenAI's `created`: no model here has a publication date to give


@router.get("/v1/models", response_model=OpenAIModelList, tags=["models"])
def list_models() -> dict[str, object]:
    """The encoders, as OpenAI's SDK lists models (`client.models.list()`)."""
    return {"object": "list", "data": [_model(name) for name in available_encoders()]}


@router.get("/v1/models/{name}", response_model=OpenAIModel, tags=["models"])
def get_model(name: str) -> dict[str, object]:
    """One encoder (404 `encoder_not_found` naming the known ones, field `model` as OpenAI's)."""
    with fields_renamed({"encoder": "model"}):
        encoder_class(name)  # raises EncoderNotFound
    return _model(name)


def _model(name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": STARTED, "owned_by": "nestvec"}


# TEI answers `POST /` with its model's own route, embed for an embedding model: that is where
# huggingface_hub's InferenceClient(model=URL).feature_extraction posts (GET / is Qdrant's)
@router.post("/", response_model=list[list[float]], tags=["tei"])
@router.post("/embed", response_model=list[list[float]], tags=["tei"])
async def tei_embed(req: TEIEmbedRequest, engine: EngineDep) -> Response:
    """TEI's embed: one vector per input (a list of vectors, also for a single string)."""
    if not req.normalize:
        raise UnsupportedInput("vectors are always L2-normalised; omit 'normalize'", "normalize")
    if req.prompt_name is not None:
        raise UnsupportedInput("this server has no prompts", "prompt_name")
    if req.truncation_direction.lower() == "left":  # accepted, it kept the start all the same
        raise UnsupportedInput(
            "long texts are cut at the end; omit 'truncation_direction'", "truncation_direction"
        )
    texts = [req.inputs] if isinstance(req.inputs, str) else req.inputs
    if any(not isinstance(t, str) for t in texts):
        raise UnsupportedInput("token-id inputs are not supported; send strings", "inputs")
    with fields_renamed({"dim": "dimensions"}):
        _, vectors = await engine.aembed(engine.settings.default_encoder, texts, req.dimensions)
    return json_response(vectors)


@router.post("/v2/embed", response_model=CohereEmbedResponse, tags=["cohere"])
async def cohere_embed(req: CohereEmbedRequest, engine: EngineDep) -> Response:
    """Cohere's v2 embed: `{"id", "embeddings": {"float": [...]}, "texts", "meta",
    "response_type"}`; float embeddings of texts, cut at the end of the model's window."""
    for name in ("images", "inputs"):
        if getattr(req, name):
            raise UnsupportedInput(f"this route embeds texts only; omit {name!r}", name)
    for name, refusal in COHERE_REFUSED.items():
        if getattr(req, name) is not None and getattr(req, name) != refusal[0]:
            raise UnsupportedInput(refusal[1], name)
    if req.texts is None:
        raise UnsupportedInput("give 'texts'", "texts")
    unsupported = sorted(set(req.embedding_types or ["float"]) - {"float"})
    if unsupported:
        raise UnsupportedInput(
            f"embedding type {unsupported[0]!r} is not served; ask for 'float'", "embedding_types"
        )
    with fields_renamed({"inputs": "texts", "dim": "output_dimension", "encoder": "model"}):
        encoder, vectors = await engine.aembed(req.model, req.texts, req.output_dimension)
    tokens = await count_tokens(encoder, req.texts)  # a 10 MB text is not counted on the loop
    meta = {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}}
    return json_response(
        {
            "id": str(uuid.uuid4()),
            "embeddings": {"float": list(np.ascontiguousarray(vectors, np.float32))},
            "texts": req.texts,
            "meta": meta,
            "response_type": "embeddings_by_type",
        }
    )


# fields Cohere's v2 embed takes that this server cannot honour beyond their default
COHERE_REFUSED = {
    "truncate": ("END", "long texts are cut at the end of the model's window; omit 'truncate'"),
    "max_tokens": (None, "texts are cut at the model's own window; omit 'max_tokens'"),
}


@router.get("/info", response_model=TEIInfo, tags=["tei"])
def tei_info(engine: EngineDep) -> dict[str, object]:
    """TEI's info about the default encoder, with this server's batching limits."""
    settings, name = engine.settings, engine.settings.default_encoder
    cls = encoder_class(name)
    return {
        "model_id": name,
        "served_model_name": name,
        "model_sha": engine.encoders.fingerprint(name, settings.resolved_models_dir),
        "model_dtype": getattr(engine.encoder(name), "precision", "float32"),  # what it runs in
        "model_type": {"embedding": {"pooling": getattr(cls, "pooling", "mean")}},
        "max_concurrent_requests": settings.batch_max_queue,
        "max_input_length": getattr(cls, "max_seq_length", settings.batch_max_tokens),
        "max_batch_tokens": settings.batch_max_tokens,
        "max_batch_requests": settings.batch_max_size,
        "max_client_batch_size": settings.max_batch,
        "auto_truncate": True,
        "tokenization_workers": 1,
        "version": nestvec_version(),
    }


@router.get("/health", tags=["tei"], response_class=Response)
def tei_health() -> Response:
    """TEI's health probe: 200 with an empty body once the service serves."""
    return Response(status_code=200)

"""Re-rank candidates for a query: Cohere/infinity's `POST /v1/rank`, Cohere's `POST /v1/rerank`
and `/v2/rerank` (one ranking, Cohere's answer), and TEI's `POST /rerank`."""

import uuid
from typing import Any

from fastapi import APIRouter

from service.deps import EngineDep, ReadAccess
from service.errors import ServiceError, UnsupportedInput, fields_renamed
from service.ranking import Ranked, rank_points, rank_texts, relevance
from service.routers import JsonRoute
from service.schemas.compat import CohereRerankResponse
from service.schemas.rank import RankDocument, RankRequest, RankResponse, TEIRank, TEIRerankRequest

router = APIRouter(route_class=JsonRoute, tags=["rank"], dependencies=[ReadAccess])


@router.post("/v1/rank", response_model=RankResponse, response_model_exclude_none=True)
def rank(req: RankRequest, engine: EngineDep) -> dict[str, Any]:
    """`documents` (texts), or `ids` of points in `collection`; scores are cosine similarities."""
    ranked, ids = _rank(req, engine)
    return {"model": ranked.encoder, "results": _results(ranked, req, ids)}


@router.post("/v1/rerank", response_model=CohereRerankResponse, response_model_exclude_none=True)
def cohere_rerank(req: RankRequest, engine: EngineDep) -> dict[str, Any]:
    """Cohere's rerank path and answer (`id`, `results`, `meta`); the same ranking as /v1/rank."""
    return _cohere(req, engine, "1")


@router.post("/v2/rerank", response_model=CohereRerankResponse, response_model_exclude_none=True)
def cohere_rerank_v2(req: RankRequest, engine: EngineDep) -> dict[str, Any]:
    """Cohere's v2 path (`cohere.ClientV2().rerank`): the same body and answer as /v1/rerank."""
    return _cohere(req, engine, "2")


def _cohere(req: RankRequest, engine: EngineDep, version: str) -> dict[str, Any]:
    ranked, ids = _rank(req, engine)
    meta = {"api_version": {"version": version}, "billed_units": {"search_units": 1}}
    return {"id": str(uuid.uuid4()), "results": _results(ranked, req, ids), "meta": meta}


def _rank(req: RankRequest, engine: EngineDep) -> tuple[Ranked, list[str] | None]:
    if req.model is not None and req.encoder is not None and req.model != req.encoder:
        raise ServiceError("'model' and 'encoder' name the same thing; give one", "encoder")
    encoder = req.encoder or req.model
    # errors name the body's fields: the encoder as sent (`model` or `encoder`), `collection`
    sent = {"encoder": "model" if req.model is not None else "encoder", "name": "collection"}
    with fields_renamed(sent):
        return _ranked(req, engine, encoder)


def _ranked(
    req: RankRequest, engine: EngineDep, encoder: str | None
) -> tuple[Ranked, list[str] | None]:
    if (req.documents is None) == (req.ids is None):
        raise ServiceError("give exactly one of: documents, ids", "documents")
    if req.ids is not None:
        if req.collection is None:
            raise ServiceError("'ids' need the 'collection' that holds them", "collection")
        ids = [str(i) for i in req.ids]
        ranked = rank_points(
            engine,
            req.query,
            req.collection,
            ids,
            encoder,
            req.top_n,
            req.text_field,
            req.dim,
            req.domain,
        )
        return ranked, ids
    if req.collection is not None:  # never silently dropped: documents are ranked as sent
        raise ServiceError(
            "'collection' goes with 'ids'; documents are ranked as sent", "collection"
        )
    texts = [_text(d, req.rank_fields, i) for i, d in enumerate(req.documents or [])]
    return rank_texts(engine, req.query, texts, encoder, req.top_n, req.dim, req.domain), None


def _text(document: str | RankDocument, fields: list[str] | None, i: int) -> str:
    if isinstance(document, str):
        return document
    try:
        return document.ranked_text(fields, f"documents[{i}]")
    except ValueError as exc:
        raise ServiceError(str(exc), f"documents[{i}]") from None


@router.post("/rerank", response_model=list[TEIRank], response_model_exclude_none=True)
def rerank(req: TEIRerankRequest, engine: EngineDep) -> list[dict[str, Any]]:
    """Text-embeddings-inference's shape: `[{index, score}]`, best first."""
    if req.truncation_direction.lower() == "left":  # as /embed: it kept the start all the same
        raise UnsupportedInput(
            "long texts are cut at the end; omit 'truncation_direction'", "truncation_direction"
        )
    with fields_renamed({"encoder": "model"}):
        ranked = rank_texts(engine, req.query, req.texts, req.model, None, field="texts")
    return [
        {"index": i, "score": s, "text": req.texts[i] if req.return_text else None}
        for i, s in zip(ranked.order, relevance(ranked.scores, req.raw_scores), strict=True)
    ]


def _results(ranked: Ranked, req: RankRequest, ids: list[str] | None) -> list[dict[str, Any]]:
    results = []
    for i, score in zip(ranked.order, relevance(ranked.scores, req.raw_scores), strict=True):
        text, given = ranked.texts[i], req.documents[i] if req.documents is not None else None
        document = None
        if req.return_documents and isinstance(given, RankDocument):
            document = given  # as sent, every field
        elif req.return_documents and text is not None:
            document = RankDocument(text=text)
        results.append(
            {
                "index": i,
                "relevance_score": score,
                "document": document,
                "id": ids[i] if ids is not None else None,
            }
        )
    return results

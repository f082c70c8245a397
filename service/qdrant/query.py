"""Qdrant's query, search and recommend routes over Collection.search and nestvec's recommend."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi import APIRouter

from index import Collection, Hit
from index.vectors import as_matrix
from recommend.interests import mmr as mmr_order
from recommend.strategies import core_scores
from service.deps import EngineDep, ReadAccess
from service.engine import Engine
from service.errors import LimitExceeded, ServiceError
from service.qdrant.translate import (
    QdrantRoute,
    Unsupported,
    answer,
    passes,
    qdrant_filter,
    scored,
    to_nestvec_id,
    to_score,
    unnamed,
    wants_vector,
)
from service.recommend import recommend
from service.schemas.qdrant import (
    QueryBatch,
    QueryPoints,
    Recommend,
    Search,
    SearchParams,
    _Query,
)
from service.schemas.recommend import RecommendRequest

MMR_CANDIDATES_MAX = 16384  # Qdrant's own bound (qdrant-client's MMR_CANDIDATES_LIMIT_MAX)

router = APIRouter(route_class=QdrantRoute, prefix="/collections/{name}/points", tags=["qdrant"])


@router.post("/query", dependencies=[ReadAccess])
def query_points(name: str, req: QueryPoints, engine: EngineDep) -> dict[str, Any]:
    """Nearest to a vector or a stored point (`query`), or recommend by examples."""
    started = time.perf_counter()
    return answer({"points": _query(engine, name, req)}, started)


@router.post("/query/batch", dependencies=[ReadAccess])
def query_batch(name: str, req: QueryBatch, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    engine.check_batch(len(req.searches), "searches")
    return answer([{"points": _query(engine, name, q)} for q in req.searches], started)


def _query(engine: Engine, name: str, req: QueryPoints) -> list[dict[str, Any]]:
    """The hits of one query request."""
    for option in ("prefetch", "lookup_from"):
        if getattr(req, option) is not None:
            raise Unsupported(f"{option} is not supported", option)
    unnamed(None, req.using, "using")
    query, mmr = req.query, None
    if isinstance(query, dict) and set(query) in ({"nearest"}, {"nearest", "mmr"}):
        query, mmr = query["nearest"], query.get("mmr")
    if isinstance(query, dict) and set(query) == {"recommend"}:
        hits = _recommend(engine, name, req, query["recommend"], "query.recommend")
    elif isinstance(query, list | int | str) and not isinstance(query, bool):
        hits = _nearest(engine, name, req, query, "query", _mmr(engine, req, mmr))
    else:
        raise Unsupported(
            "query must be a vector, a point id, {nearest} or {recommend} "
            "(fusion, order_by, discover, context and formula queries are not supported)",
            "query",
        )
    return hits


@router.post("/search", dependencies=[ReadAccess])
def search_points(name: str, req: Search, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    vector = unnamed(req.vector, None, "vector")
    return answer(_nearest(engine, name, req, vector, "vector"), started)


@router.post("/recommend", dependencies=[ReadAccess])
def recommend_points(name: str, req: Recommend, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    if req.lookup_from is not None:
        raise Unsupported("lookup_from is not supported", "lookup_from")
    unnamed(None, req.using, "using")
    examples = {"positive": req.positive, "negative": req.negative, "strategy": req.strategy}
    return answer(_recommend(engine, name, req, examples, "positive"), started)


def _mmr(engine: Engine, req: _Query, raw: Any) -> tuple[float, int] | None:
    """Qdrant's `{"nearest": ..., "mmr": {"diversity", "candidates_limit"}}` as (diversity,
    candidates): defaults 0.5 and the query's `limit`, as Qdrant's."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"diversity", "candidates_limit"}:
        raise ServiceError("mmr takes diversity and candidates_limit", "query.mmr")
    diversity = 0.5 if raw.get("diversity") is None else raw["diversity"]
    number = isinstance(diversity, int | float) and not isinstance(diversity, bool)
    if not (number and 0.0 <= diversity <= 1.0):
        raise ServiceError("diversity is a number in [0, 1]", "query.mmr.diversity")
    candidates = req.limit if raw.get("candidates_limit") is None else raw["candidates_limit"]
    if not isinstance(candidates, int) or isinstance(candidates, bool) or candidates < 0:
        raise ServiceError("candidates_limit is an integer >= 0", "query.mmr.candidates_limit")
    if candidates > MMR_CANDIDATES_MAX:
        message = f"candidates_limit is at most {MMR_CANDIDATES_MAX}"
        raise LimitExceeded(message, "query.mmr.candidates_limit")
    return float(diversity), candidates


def _nearest(
    engine: Engine,
    name: str,
    req: _Query,
    query: Any,
    field: str,
    mmr: tuple[float, int] | None = None,
) -> list[dict[str, Any]]:
    """The hits nearest a vector, or a stored point's (that point itself excluded); with `mmr`,
    its candidates re-ranked by maximal marginal relevance, as Qdrant's nearest query with
    `mmr` (scores stay the similarities to the query)."""
    collection = engine.catalog.get(name)
    k = req.offset + req.limit
    engine.check_k(k, "limit", "offset + limit")
    exclude: list[str] = []
    if isinstance(query, list):
        _check_vector(query, field)
        vector = as_matrix([query], collection.config.dim, [field])
    else:
        stored = collection.vector_of(to_nestvec_id(query, field), field)
        vector, exclude = stored.vector[None, :], [stored.id]  # type: ignore[index]
    wanted = k if mmr is None else mmr[1]  # MMR picks k of its candidates
    hits = collection.search(
        np.asarray(vector, np.float32),
        max(wanted, 1),
        filter=qdrant_filter(req.filter),
        params=_knobs(collection, req.params),
        exclude=[exclude],
        with_payload=req.with_payload not in (None, False),
        with_vector=mmr is not None or wants_vector(req.with_vector),
    )[0][:wanted]
    if mmr is not None:
        hits = _diversified(collection, hits, req, 1.0 - mmr[0], k)
    return _shown(hits, collection, req)


def _diversified(
    collection: Collection, hits: list[Hit], req: _Query, lam: float, k: int
) -> list[Hit]:
    """The k of `hits` maximal marginal relevance picks, under Qdrant's own similarity between
    the query and candidates and among them (-d^2 under Euclid); candidates under
    `score_threshold` take no part, as in Qdrant. The hits keep their search scores."""
    name, metric = collection.config.metric, collection.metric
    hits = [h for h in hits if passes(to_score(h.score, name), req.score_threshold, name == "l2")]
    if not hits:
        return []
    vectors = metric.prepare(np.stack([np.asarray(h.vector) for h in hits]))
    scores = np.array([h.score for h in hits], np.float64)  # -d under Euclid
    relevance = -(scores**2) if metric.kind == "l2" else scores
    order = mmr_order(relevance, vectors, k, lam, lambda x, v: core_scores(metric, x, v))
    return [hits[i] for i in order.tolist()]


def _recommend(
    engine: Engine, name: str, req: _Query, examples: Any, field: str
) -> list[dict[str, Any]]:
    """Qdrant's recommend by examples (average_vector, best_score, sum_scores) via nestvec's."""
    if not isinstance(examples, dict) or set(examples) - {"positive", "negative", "strategy"}:
        raise Unsupported("recommend takes positive, negative and strategy", field)
    collection = engine.catalog.get(name)
    engine.check_k(req.offset + req.limit, "limit", "offset + limit")
    strategy = examples.get("strategy") or "average_vector"
    if not isinstance(strategy, str):
        raise ServiceError("strategy must be a string", "strategy")
    request = RecommendRequest(
        positive=_examples(examples.get("positive"), "positive"),
        negative=_examples(examples.get("negative"), "negative"),
        strategy=strategy,
        k=req.offset + req.limit,
        filter=qdrant_filter(req.filter),
        params=_knobs(collection, req.params),
        with_payload=req.with_payload not in (None, False),
        with_vector=wants_vector(req.with_vector),
    )
    hits = recommend(engine, name, request).hits
    # best_score and sum_scores are Qdrant's raw strategy scores, higher is better whatever the
    # distance; average_vector is a plain search (Euclid: the distance, lower is better)
    return _shown(hits, collection, req, raw=strategy != "average_vector")


def _examples(given: Any, what: str) -> list[Any]:
    """Example vectors as they are, example ids as nestvec ids."""
    if given is None:
        return []
    if not isinstance(given, list):
        raise Unsupported(f"{what} must be a list of point ids or vectors", what)
    out = []
    for i, example in enumerate(given):
        field = f"{what}[{i}]"
        if isinstance(example, list):
            out.append(_check_vector(example, field))
        elif isinstance(example, int | str) and not isinstance(example, bool):
            out.append(to_nestvec_id(example, field))
        else:
            raise ServiceError("an example is a point id or a vector", field)
    return out


def _check_vector(vector: list[Any], field: str) -> list[float]:
    """A dense vector of numbers (the query's free-form shape is checked here)."""
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
        return vector
    if any(x is None for x in vector):  # qdrant-client (pydantic) sends NaN and inf as null
        message = "vector values must be finite numbers (NaN and inf arrive as null)"
        raise ServiceError(message, field)
    if any(isinstance(x, list) for x in vector):
        raise ServiceError("multivectors are not supported", field)
    raise ServiceError("a vector holds numbers only", field)


def _shown(
    hits: list[Hit], collection: Collection, req: _Query, raw: bool = False
) -> list[dict[str, Any]]:
    """Hits after `offset`, within `score_threshold`, in Qdrant's ScoredPoint shape; `raw`:
    scores shown as they are, higher is better (recommend strategies), not as distances."""
    metric = collection.config.metric
    scores = [hit.score if raw else to_score(hit.score, metric) for hit in hits]
    # Qdrant takes hits while they pass the threshold by the distance's own order, custom
    # strategy scores too: under Euclid a best_score threshold keeps scores below it, and the
    # first hit at or past it ends the answer (its take_while), before the offset is skipped
    passing = 0
    while passing < len(hits) and passes(scores[passing], req.score_threshold, metric == "l2"):
        passing += 1
    return [
        scored(hit, metric, req.with_payload, req.with_vector, score)
        for hit, score in zip(hits[req.offset : passing], scores[req.offset : passing], strict=True)
    ]


def _knobs(collection: Collection, params: SearchParams | None) -> dict[str, Any] | None:
    """`hnsw_ef` as the beam width of the backends that have one; others ignore it (as Qdrant
    ignores it on a plain index). `exact` scores every vector the filter keeps."""
    if params is None:
        return None
    knobs: dict[str, Any] = {"exact": True} if params.exact else {}
    if params.hnsw_ef is not None and "ef" in collection.backend.Query.model_fields:
        knobs["ef"] = params.hnsw_ef
    return knobs or None

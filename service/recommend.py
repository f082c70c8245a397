"""Recommend requests: resolve examples or a history to vectors, then run
`recommend.recommender`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index import Collection, Hit
from index.errors import PointNotFound
from index.stored_point import check_point_id
from index.vectors import as_matrix
from recommend.errors import InvalidExamples, InvalidHistory
from recommend.interests import Interests
from recommend.recommender import SearchOptions, recommend_examples, recommend_history
from recommend.strategies import strategy
from service.engine import Engine
from service.schemas.recommend import Example, RecommendRequest

HISTORY_OPTIONS = ("interests", "short_term", "mmr_lambda")


@dataclass(frozen=True)
class Recommendation:
    hits: list[Hit]
    sources: list[int] | None = None  # history mode: the interest of each hit
    interests: Interests | None = None
    history_ids: list[str] | None = None


def recommend(engine: Engine, name: str, req: RecommendRequest) -> Recommendation:
    """Answer a recommend request by examples or by history."""
    engine.check_k(req.k)
    collection = engine.catalog.get(name)
    has_examples = req.positive is not None or req.negative is not None
    if has_examples and req.history is not None:
        raise InvalidExamples("give examples (positive/negative) or a history, not both", "history")
    if req.history is not None:
        if "strategy" in req.model_fields_set:  # it was ignored: a history is scored by interest
            raise InvalidExamples("'strategy' applies to positive/negative requests", "strategy")
        return _by_history(engine, collection, req)
    if not has_examples:
        raise InvalidExamples("give positive/negative examples or a history", "positive")
    for option in (*HISTORY_OPTIONS, "merge"):  # `merge` has a default: was it sent?
        if getattr(req, option) is not None and option in req.model_fields_set:
            raise InvalidExamples(f"{option!r} applies to history requests only", option)
    strategy(req.strategy)  # an unknown name fails before any point is read
    positive, pos_ids = _resolve(engine, collection, req.positive or [], "positive")
    negative, neg_ids = _resolve(engine, collection, req.negative or [], "negative")
    opts = _options(req, pos_ids + neg_ids)
    hits = recommend_examples(collection, positive, negative, req.strategy, req.k, opts)
    return Recommendation(hits)


def _by_history(engine: Engine, collection: Collection, req: RecommendRequest) -> Recommendation:
    history = req.history or []
    if not history:
        raise InvalidHistory("history must hold at least one item", "history")
    stamps = [item.timestamp for item in history]
    if any(t is None for t in stamps) and any(t is not None for t in stamps):
        missing = stamps.index(None)
        message = "give a timestamp for every history item or for none"
        raise InvalidHistory(message, f"history[{missing}].timestamp")
    ids = [str(item.id) for item in history]
    vectors = _stored(engine, collection, ids, [f"history[{i}].id" for i in range(len(ids))])
    times = np.arange(len(ids), dtype=np.float64) if stamps[0] is None else np.asarray(stamps)
    found, interests = recommend_history(
        collection,
        vectors,
        times,
        req.k,
        _options(req, ids),
        interests=req.interests,
        short_term=req.short_term,
        merge_name=req.merge,
        mmr_lambda=req.mmr_lambda,
        seed=req.seed,
    )
    return Recommendation(
        [f.hit for f in found], [f.interest for f in found], interests, history_ids=ids
    )


def _options(req: RecommendRequest, exclude: list[str]) -> SearchOptions:
    return SearchOptions(req.filter, req.params, exclude, req.with_payload, req.with_vector)


def _resolve(
    engine: Engine, collection: Collection, examples: Sequence[Example], what: str
) -> tuple[np.ndarray, list[str]]:
    """Example vectors (n, d) and the ids among them (excluded from the results)."""
    engine.check_batch(len(examples), what)
    dim = collection.config.dim
    out = np.zeros((len(examples), dim), np.float32)
    at_id = [i for i, e in enumerate(examples) if not isinstance(e, list)]
    at_vec = [i for i, e in enumerate(examples) if isinstance(e, list)]
    ids = [str(examples[i]) for i in at_id]
    if at_id:
        out[at_id] = _stored(engine, collection, ids, [f"{what}[{i}]" for i in at_id])
    if at_vec:
        rows = [examples[i] for i in at_vec]
        out[at_vec] = as_matrix(rows, dim, [f"{what}[{i}]" for i in at_vec])  # type: ignore[arg-type]
    return out, ids


def _stored(
    engine: Engine, collection: Collection, ids: list[str], fields: list[str]
) -> np.ndarray:
    """Stored vectors of `ids` in order (one read), or PointNotFound naming the first unknown."""
    engine.check_batch(len(ids), fields[0].split("[")[0] if fields else "ids")
    found = {p.id: p.vector for p in collection.get(ids, with_vector=True)}
    for point_id, field in zip(ids, fields, strict=True):
        if point_id not in found:
            check_point_id(point_id, field)  # an id no point can have is invalid, not missing
            message = f"no point with id {point_id!r} in {collection.config.name!r}"
            raise PointNotFound(message, field)
    return np.stack([found[i] for i in ids]).astype(np.float32)  # type: ignore[misc]

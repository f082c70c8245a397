"""Recommend over a Collection: examples with a strategy, or a history through its interests.

Every index access is one batched `Collection.search` call: the seed queries of a custom
objective, or the K interests of a history, go to the index together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.collection import Collection
from index.plans import Hit
from index.stored_point import StoredPoint
from recommend.interests import Interests, build_interests, merge, mmr
from recommend.strategies import (
    average_vector,
    check_counts,
    score_candidates,
    seed_queries,
    strategy,
    top_k,
)

# Custom objectives rescore the union of each seed query's neighbours: this many per seed
# (at least CANDIDATE_MIN). Their best can lie far from every seed (a sum of scores), so up to
# EXHAUSTIVE_POINTS points every point is scored, exactly, as Qdrant's full scan below its
# threshold (with 256 candidates, 300 points already missed the true best).
CANDIDATE_OVERSAMPLE = 4
CANDIDATE_MIN = 256
EXHAUSTIVE_POINTS = 10_000
MMR_POOL = 3  # MMR picks k out of the merged top (MMR_POOL * k) of each interest


@dataclass(frozen=True)
class SearchOptions:
    filter: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    exclude: Sequence[str] = ()
    with_payload: bool = True
    with_vector: bool = False


@dataclass(frozen=True)
class InterestHit:
    hit: Hit
    interest: int


def recommend_examples(
    collection: Collection,
    positive: np.ndarray,
    negative: np.ndarray,
    strategy_name: str,
    k: int,
    opts: SearchOptions,
) -> list[Hit]:
    """Top-k points for positive (p, d) and negative (n, d) example vectors."""
    rule = strategy(strategy_name)
    check_counts(strategy_name, len(positive), len(negative))
    metric = collection.metric
    pos, neg = metric.prepare(positive), metric.prepare(negative)
    if rule.objective is None:  # average_vector: one query, a plain search
        # each example prepared first, as Qdrant's server does (`preprocess_vectors`: a long raw
        # example weighs no more under cosine); qdrant-client's in-process engine does not
        query = average_vector(pos, neg)[None, :]
        return _search(collection, query, k, opts, opts.with_payload, opts.with_vector)[0]
    seeds = seed_queries(strategy_name, pos, neg, metric.kind)
    fetch = max(k * CANDIDATE_OVERSAMPLE, CANDIDATE_MIN)
    if (total := collection.count()) <= EXHAUSTIVE_POINTS:
        seeds, fetch = seeds[:1], max(total, 1)  # one search that answers every point
    pool: dict[str, np.ndarray] = {}
    for hits in _search(collection, seeds, fetch, opts, False, True):
        for hit in hits:
            pool.setdefault(hit.id, hit.vector)  # type: ignore[arg-type]
    if not pool:
        return []
    ids = list(pool)
    scores = score_candidates(strategy_name, np.stack([pool[i] for i in ids]), pos, neg, metric)
    best = top_k(scores, k)
    return _finish(collection, [ids[i] for i in best], scores[best].tolist(), opts)


def recommend_history(
    collection: Collection,
    vectors: np.ndarray,
    timestamps: np.ndarray,
    k: int,
    opts: SearchOptions,
    *,
    interests: int | None = None,
    short_term: int | None = None,
    merge_name: str = "max",
    mmr_lambda: float | None = None,
    seed: int = 0,
) -> tuple[list[InterestHit], Interests]:
    """Top-k points for a history (n, d) with timestamps (n,), each tagged with its interest."""
    found = build_interests(
        collection.metric.prepare(vectors), timestamps, interests, short_term, seed
    )
    queries = found.vectors  # unit: interests are directions, which cosine and dot rank by
    if collection.metric.kind == "l2":  # a unit query ranked points near the origin first
        prepared = collection.metric.prepare(vectors)
        queries = np.stack([prepared[members].mean(axis=0) for members in found.members])
    depth = min(k if mmr_lambda is None else k * MMR_POOL, max(collection.count(), 1))
    lists = _search(collection, queries, depth, opts, False, mmr_lambda is not None)
    keys = np.full((len(lists), depth), -1, np.int64)
    scores = np.full((len(lists), depth), -np.inf, np.float32)
    ids: dict[str, int] = {}
    vecs: list[np.ndarray] = []
    for j, hits in enumerate(lists):
        for r, hit in enumerate(hits):
            if hit.id not in ids:
                ids[hit.id] = len(ids)
                vecs.append(hit.vector if hit.vector is not None else np.empty(0))
            keys[j, r], scores[j, r] = ids[hit.id], hit.score
    merged, merged_scores, source = merge(merge_name, keys, scores, found.weights, len(ids))
    if mmr_lambda is not None and len(merged):
        picked = mmr(merged_scores, np.stack([vecs[i] for i in merged]), k, mmr_lambda)
        merged, merged_scores, source = merged[picked], merged_scores[picked], source[picked]
    by_key = list(ids)
    chosen = [by_key[i] for i in merged[:k]]
    hits = _finish(collection, chosen, merged_scores[:k].tolist(), opts)
    return [InterestHit(h, int(j)) for h, j in zip(hits, source[:k], strict=True)], found


def _search(
    collection: Collection,
    queries: np.ndarray,
    k: int,
    opts: SearchOptions,
    with_payload: bool,
    with_vector: bool,
) -> list[list[Hit]]:
    return collection.search(
        queries,
        k,
        filter=opts.filter,
        params=opts.params,
        exclude=[opts.exclude] * len(queries),
        with_payload=with_payload,
        with_vector=with_vector,
    )


def _finish(
    collection: Collection, ids: list[str], scores: list[float], opts: SearchOptions
) -> list[Hit]:
    """Hits in the given order, with payloads and vectors joined only when asked for."""
    if not (opts.with_payload or opts.with_vector):
        return [Hit(i, s) for i, s in zip(ids, scores, strict=True)]
    stored = {p.id: p for p in collection.get(ids, with_vector=opts.with_vector)}
    return [_joined(i, s, stored.get(i), opts) for i, s in zip(ids, scores, strict=True)]


def _joined(point_id: str, score: float, point: StoredPoint | None, opts: SearchOptions) -> Hit:
    if point is None:  # deleted since the search: still reported, without payload
        return Hit(point_id, score)
    payload = point.payload_json if opts.with_payload else None
    return Hit(point_id, score, payload, point.vector if opts.with_vector else None)

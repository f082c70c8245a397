"""Recommendation from positive and negative examples, with Qdrant's three strategies.

Pure numpy: arrays in, arrays out. Definitions follow Qdrant (`RecommendStrategy`,
lib/segment/src/vector_storage/query/reco_query.rs):
- `average_vector`: query = avg_pos + (avg_pos - avg_neg) (just avg_pos without negatives),
  then a normal search; needs at least one positive.
- `best_score`: per candidate, the best similarity to any positive and to any negative; if the
  positive one is higher the score is sigmoid(max_pos), else -sigmoid(max_neg), with Qdrant's
  scaled fast sigmoid 0.5 * (x / (1 + |x|) + 1). Negatives alone are allowed.
- `sum_scores`: sum of similarities to the positives minus the sum to the negatives.
Examples are compared after the metric's preparation (cosine: unit length), as Qdrant stores them.
The similarity inside `best_score` and `sum_scores` is Qdrant's core score: cosine, dot, and for
Euclid minus the squared distance (a search still reports minus the distance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from index.metrics import Metric, squared_l2
from recommend.errors import InvalidExamples, UnknownStrategy

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Strategy:
    """`objective` None: one query and a plain search; else a custom scoring of candidates."""

    name: str
    objective: ScoreFn | None
    needs_positive: bool


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str, *, needs_positive: bool) -> Callable[[ScoreFn], ScoreFn]:
    """Register a candidate-scoring objective under `name`."""

    def decorate(fn: ScoreFn) -> ScoreFn:
        STRATEGIES[name] = Strategy(name, fn, needs_positive)
        return fn

    return decorate


def strategy(name: str, field: str = "strategy") -> Strategy:
    """The strategy called `name`, or UnknownStrategy naming the known ones."""
    if name not in STRATEGIES:
        known = ", ".join(sorted(STRATEGIES))
        raise UnknownStrategy(f"unknown strategy {name!r}; known: {known}", field)
    return STRATEGIES[name]


def _check_examples(positive: np.ndarray, negative: np.ndarray) -> None:
    if positive.ndim != 2 or negative.ndim != 2 or positive.shape[1] != negative.shape[1]:
        raise ValueError(
            f"examples must be (p, d) and (n, d); got {positive.shape}, {negative.shape}"
        )


def check_counts(name: str, n_positive: int, n_negative: int) -> None:
    """Raise InvalidExamples when a strategy cannot work with these many examples."""
    rule = strategy(name)
    if rule.needs_positive and n_positive == 0:
        raise InvalidExamples(f"strategy {name!r} needs at least one positive example", "positive")
    if n_positive + n_negative == 0:
        raise InvalidExamples("give at least one positive or negative example", "positive")


def average_vector(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Qdrant's average_vector query (d,): avg_pos + avg_pos - avg_neg, or avg_pos alone."""
    _check_examples(positive, negative)
    if len(positive) == 0:
        raise InvalidExamples(
            "strategy 'average_vector' needs at least one positive example", "positive"
        )
    avg_pos = positive.mean(axis=0, dtype=np.float64)
    if len(negative) == 0:
        return avg_pos.astype(np.float32)
    return (avg_pos + avg_pos - negative.mean(axis=0, dtype=np.float64)).astype(np.float32)


STRATEGIES["average_vector"] = Strategy("average_vector", None, needs_positive=True)


def scaled_fast_sigmoid(x: np.ndarray) -> np.ndarray:
    """Qdrant's monotone squashing into (0, 1): 0.5 * (x / (1 + |x|) + 1)."""
    return 0.5 * (x / (1.0 + np.abs(x)) + 1.0)


@register_strategy("best_score", needs_positive=False)
def best_score(sim_pos: np.ndarray, sim_neg: np.ndarray) -> np.ndarray:
    """(m,) scores from similarities (m, p) to positives and (m, n) to negatives."""
    m = len(sim_pos)
    max_pos = sim_pos.max(axis=1) if sim_pos.shape[1] else np.full(m, -np.inf, np.float32)
    max_neg = sim_neg.max(axis=1) if sim_neg.shape[1] else np.full(m, -np.inf, np.float32)
    with np.errstate(invalid="ignore"):  # the branch not taken may be sigmoid(-inf)
        return np.where(
            max_pos > max_neg, scaled_fast_sigmoid(max_pos), -scaled_fast_sigmoid(max_neg)
        ).astype(np.float32)


@register_strategy("sum_scores", needs_positive=False)
def sum_scores(sim_pos: np.ndarray, sim_neg: np.ndarray) -> np.ndarray:
    """(m,) sum of similarities to positives minus the sum to negatives (float64: hundreds of
    -d^2 of large vectors, each finite, summed past float32's range to inf and NaN)."""
    return sim_pos.sum(axis=1, dtype=np.float64) - sim_neg.sum(axis=1, dtype=np.float64)


def seed_queries(
    name: str, positive: np.ndarray, negative: np.ndarray, metric_kind: str
) -> np.ndarray:
    """Queries whose neighbours are the candidates of a custom objective (s, d), prepared examples.

    Each positive plus the average_vector query (which finds points between the positives);
    with negatives only, the negated examples and their mean, which find the far side. For
    `sum_scores`, first the query whose plain search ranks as the objective, where one exists.
    """
    _check_examples(positive, negative)
    if len(positive):
        seeds = np.vstack([positive, average_vector(positive, negative)[None, :]])
    else:
        flipped = -negative
        seeds = np.vstack([flipped, flipped.mean(axis=0, keepdims=True)])
    exact = _sum_scores_query(positive, negative, metric_kind) if name == "sum_scores" else None
    return (seeds if exact is None else np.vstack([exact[None, :], seeds])).astype(np.float32)


def _sum_scores_query(positive: np.ndarray, negative: np.ndarray, kind: str) -> np.ndarray | None:
    """sum_scores ranks by x.S, S = sum(pos) - sum(neg), under cosine and dot: a search for S.
    Under Euclid it is -c|x|^2 + 2x.S (c = #pos - #neg): for c > 0, a search for S / c; else no
    nearest-neighbour query ranks so. The average_vector seed found other points when the counts
    of positives and negatives differed (0 of the true 10 in a 12k collection)."""
    total = positive.sum(axis=0, dtype=np.float64) - negative.sum(axis=0, dtype=np.float64)
    if kind == "l2":
        surplus = len(positive) - len(negative)
        return (total / surplus).astype(np.float32) if surplus > 0 else None
    return total.astype(np.float32) if np.any(total) else None


def score_candidates(
    name: str,
    candidates: np.ndarray,
    positive: np.ndarray,
    negative: np.ndarray,
    metric: Metric,
) -> np.ndarray:
    """(m,) strategy scores of candidate vectors (m, d) against the examples, all unprepared."""
    _check_examples(positive, negative)
    if candidates.ndim != 2 or candidates.shape[1] != positive.shape[1]:
        raise ValueError(f"candidates must be (m, {positive.shape[1]}); got {candidates.shape}")
    rule = strategy(name)
    prepared = metric.prepare(candidates)
    sim_pos = core_scores(metric, prepared, metric.prepare(positive))
    sim_neg = core_scores(metric, prepared, metric.prepare(negative))
    if rule.objective is None:  # average_vector: the similarity to its single query vector
        query = average_vector(metric.prepare(positive), metric.prepare(negative))
        return metric.scores(prepared, metric.prepare(query[None, :]))[:, 0]
    return rule.objective(sim_pos, sim_neg)


def core_scores(metric: Metric, candidates: np.ndarray, examples: np.ndarray) -> np.ndarray:
    """Qdrant's internal similarity: -d^2 under Euclid (its sum_scores ranked by -d differed),
    in float64 (a -d^2 of two vectors near the norm limit passes float32's range)."""
    candidates, examples = candidates.astype(np.float64), examples.astype(np.float64)
    if metric.kind == "l2":
        return -squared_l2(candidates, examples)
    return metric.scores(candidates, examples)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores, best first (stable for ties)."""
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-d; got {scores.shape}")
    return np.argsort(-scores, kind="stable")[:k]

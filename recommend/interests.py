"""Multi-interest user vectors after HCN (Yuan et al., "Hierarchical Multi-Interest Co-Network").

Pure numpy. A history (item vectors with timestamps) is split into a long-term and a short-term
part; each part is clustered by spherical k-means (k-means++ seeding, a few Lloyd steps) into
interests; long-term interests are re-weighted by their affinity to the short-term ones. The
interests' result lists are merged by max score or weighted round-robin, de-duplicated, and
optionally diversified by maximal marginal relevance (MMR).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommend.errors import InvalidHistory, UnknownMerge

MAX_AUTO_INTERESTS = 8
# Clusters of one to three items are noise: on Cora, splitting histories shorter than ~8 items
# lost recall against their plain mean (loadtest/bench_recommend.py cora).
ITEMS_PER_INTEREST = 4
MAX_AUTO_SHORT_TERM = 20
KMEANS_ITERS = 10


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def auto_interests(n: int) -> int:
    """Number of interests for a history of n items: about ITEMS_PER_INTEREST each, 1 to 8."""
    return min(MAX_AUTO_INTERESTS, max(1, n // ITEMS_PER_INTEREST))


def auto_short_term(n: int) -> int:
    """Default short-term window: the latest third of the history, at most 20 items."""
    return min(MAX_AUTO_SHORT_TERM, n // 3)


def kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on unit vectors (D² = squared chord distance); returns k row indices."""
    n = len(x)
    chosen = [int(rng.integers(n))]
    d2 = np.maximum(2.0 - 2.0 * (x @ x[chosen[0]]), 0.0)
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 1e-12:  # every point coincides with a seed: take any unused row
            rest = np.setdiff1d(np.arange(n), chosen)
            nxt = int(rng.choice(rest))
        else:
            nxt = int(rng.choice(n, p=d2 / total))
        chosen.append(nxt)
        d2 = np.minimum(d2, np.maximum(2.0 - 2.0 * (x @ x[nxt]), 0.0))
    return np.asarray(chosen)


def spherical_kmeans(
    x: np.ndarray, k: int, iters: int = KMEANS_ITERS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit centroids (k', d) and assignments (n,) of rows x (n, d); k' = min(k, distinct rows)."""
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (n, d) array; got {x.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    x = unit_rows(x)
    # an item seen twice is one direction: k clusters of copies were k equal interests
    k = min(k, len(np.unique(x, axis=0)))
    rng = np.random.default_rng(seed)
    centroids = x[kmeans_pp(x, k, rng)].copy()
    assign = np.full(len(x), -1)
    for _ in range(iters):
        sims = x @ centroids.T
        new = sims.argmax(axis=1)
        for j in range(k):  # an empty cluster takes the point worst served by its centroid
            if not (new == j).any():
                movable = np.bincount(new, minlength=k)[new] > 1
                fit = np.where(movable, sims[np.arange(len(x)), new], np.inf)
                new[int(np.argmin(fit))] = j
        if np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            total = x[assign == j].sum(axis=0)
            norm = float(np.linalg.norm(total))
            if norm > 1e-12:  # antipodal members cancel out: keep the previous centroid
                centroids[j] = total / norm
    return centroids.astype(np.float32), assign


@dataclass(frozen=True)
class Interests:
    """K interest vectors (unit), their weights (sum 1), term ("long"/"short"/"all"), members."""

    vectors: np.ndarray
    weights: np.ndarray
    terms: list[str]
    members: list[np.ndarray]  # indices into the history passed to `build_interests`


def split_history(timestamps: np.ndarray, short_term: int) -> tuple[np.ndarray, np.ndarray]:
    """(long-term, short-term) indices: the `short_term` latest items are short-term."""
    order = np.argsort(timestamps, kind="stable")
    cut = len(order) - short_term
    return order[:cut], order[cut:]


def _allocate(k: int, n_long: int, n_short: int) -> tuple[int, int]:
    """Interests per part: proportional to the parts' sizes, at least 1 for a non-empty part."""
    if n_short == 0:
        return min(k, n_long), 0
    if n_long == 0:
        return 0, min(k, n_short)
    k_short = min(n_short, k - 1, max(1, round(k * n_short / (n_long + n_short))))
    return min(n_long, k - k_short), k_short


def build_interests(
    vectors: np.ndarray,
    timestamps: np.ndarray,
    k: int | None = None,
    short_term: int | None = None,
    seed: int = 0,
) -> Interests:
    """Cluster a history (n, d) with timestamps (n,) into long- and short-term interests."""
    n = len(vectors)
    if vectors.ndim != 2 or n == 0 or timestamps.shape != (n,):
        raise InvalidHistory("history must hold at least one item", "history")
    k = auto_interests(n) if k is None else k
    s = auto_short_term(n) if short_term is None else min(short_term, n)
    x = unit_rows(vectors)
    if k == 1:  # a single interest: the normalised mean of the whole history
        return Interests(unit_rows(x.mean(0, keepdims=True)), np.ones(1), ["all"], [np.arange(n)])
    long_idx, short_idx = split_history(timestamps, s)
    k_long, k_short = _allocate(k, len(long_idx), len(short_idx))
    parts = []
    for term, idx, kk in (("long", long_idx, k_long), ("short", short_idx, k_short)):
        if kk:
            centroids, assign = spherical_kmeans(x[idx], kk, seed=seed)
            parts += [(term, centroids[j], idx[assign == j]) for j in range(len(centroids))]
    vecs = np.stack([p[1] for p in parts])
    terms = [p[0] for p in parts]
    share = np.array([len(p[2]) / n for p in parts])
    shorts = vecs[[t == "short" for t in terms]]
    if len(shorts):
        # long-term interests count by how well they agree with what the user does lately
        affinity = (vecs @ shorts.T).max(axis=1)
        share = np.where(np.array(terms) == "long", share * (1.0 + affinity) / 2.0, share)
    weights = share / share.sum() if share.sum() > 0 else np.full(len(parts), 1 / len(parts))
    return Interests(vecs.astype(np.float32), weights, terms, [p[2] for p in parts])


# merging ----------------------------------------------------------------------------------------
Merged = tuple[np.ndarray, np.ndarray, np.ndarray]  # keys, scores, source interest
MergeFn = Callable[[np.ndarray, np.ndarray, np.ndarray, int], Merged]
MERGES: dict[str, MergeFn] = {}


def register_merge(name: str) -> Callable[[MergeFn], MergeFn]:
    """Register a merge of per-interest result lists under `name`."""

    def decorate(fn: MergeFn) -> MergeFn:
        MERGES[name] = fn
        return fn

    return decorate


def merge(name: str, keys: np.ndarray, scores: np.ndarray, weights: np.ndarray, k: int) -> Merged:
    """Merge (K, m) ranked lists of keys (-1 = empty slot) into at most k distinct keys."""
    if name not in MERGES:
        raise UnknownMerge(f"unknown merge {name!r}; known: {', '.join(sorted(MERGES))}", "merge")
    if keys.shape != scores.shape or keys.ndim != 2 or weights.shape != (len(keys),):
        raise ValueError(f"keys/scores (K, m) and weights (K,); got {keys.shape}, {weights.shape}")
    return MERGES[name](keys, scores, weights, k)


@register_merge("max")
def merge_max(keys: np.ndarray, scores: np.ndarray, weights: np.ndarray, k: int) -> Merged:
    """Each key scored by its best similarity to any interest; ties go to the earlier interest."""
    best: dict[int, tuple[float, int]] = {}
    for j, (row_keys, row_scores) in enumerate(zip(keys.tolist(), scores.tolist(), strict=True)):
        for key, score in zip(row_keys, row_scores, strict=True):
            if key >= 0 and (key not in best or score > best[key][0]):
                best[key] = (score, j)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
    return _as_arrays([(key, s, j) for key, (s, j) in ranked])


@register_merge("round_robin")
def merge_round_robin(keys: np.ndarray, scores: np.ndarray, weights: np.ndarray, k: int) -> Merged:
    """Smooth weighted round-robin over the lists: interest j fills about weights[j] of slots."""
    pos = [0] * len(keys)
    credit = np.zeros(len(keys))
    live = np.array([(row >= 0).any() for row in keys])
    taken: set[int] = set()
    out: list[tuple[int, float, int]] = []
    while len(out) < k and live.any():
        credit[live] += weights[live]
        j = int(np.argmax(np.where(live, credit, -np.inf)))
        credit[j] -= weights[live].sum()
        while pos[j] < keys.shape[1] and (keys[j, pos[j]] < 0 or keys[j, pos[j]] in taken):
            pos[j] += 1
        if pos[j] >= keys.shape[1]:
            live[j] = False
            continue
        key = int(keys[j, pos[j]])
        taken.add(key)
        out.append((key, float(scores[j, pos[j]]), j))
    return _as_arrays(out)


def _as_arrays(rows: list[tuple[int, float, int]]) -> Merged:
    return (
        np.array([r[0] for r in rows], np.int64),
        np.array([r[1] for r in rows], np.float32),
        np.array([r[2] for r in rows], np.int64),
    )


def mmr(
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    lam: float,
    similarity: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Maximal marginal relevance: indices of k items, greedily maximising
    lam * relevance - (1 - lam) * max similarity to the items already chosen; `similarity(x, v)`
    scores the rows of x against v (default: cosine)."""
    if relevance.ndim != 1 or vectors.ndim != 2 or len(vectors) != len(relevance):
        raise ValueError(
            f"relevance (m,) and vectors (m, d); got {relevance.shape}, {vectors.shape}"
        )
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1]; got {lam}")
    x = unit_rows(vectors) if similarity is None else vectors
    m = len(relevance)
    chosen: list[int] = []
    redundancy = np.zeros(m)  # max similarity to the chosen items; nothing chosen yet counts 0
    free = np.ones(m, bool)
    for _ in range(min(k, m)):
        gain = np.where(free, lam * relevance - (1.0 - lam) * redundancy, -np.inf)
        i = int(np.argmax(gain))
        sims = x @ x[i] if similarity is None else similarity(x, x[i : i + 1])[:, 0]
        redundancy = sims if not chosen else np.maximum(redundancy, sims)
        chosen.append(i)
        free[i] = False
    return np.asarray(chosen, np.int64)

"""The search plans a collection chooses among, as functions of arrays: exact scoring of a
filter's matches, exact re-ranking of an ANN shortlist, and post-filtering an oversampled ANN
search; plus the thresholds that choose between them and the cached matches of a filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.base import VectorIndex
from index.metrics import Metric
from index.stored_point import decode_payload

# Filters this selective are answered exactly from stored vectors: cheaper than steering the
# graph search through a sparse allowed set, and exact (Qdrant plans small filters the same way).
EXACT_FILTER_LIMIT = 2048
# ... and so are filters narrower than POST_FILTER_SHARE whose rows hold at most this many floats
# (65,536 rows of 128 dims): one matrix product over them costs less than a graph search steered
# by a Python callback (hnswlib `filter=`), whose cost grows as the filter narrows. Measured on
# 2 cores, 128-d, k=10: exact 0.24 ms at 16,384 rows and 1.15 ms at 65,536; the steered search
# 3.7 ms for a 4% filter of 400k points and 6.2 ms (REST p50) for a 5% filter of 1M.
EXACT_SCAN_FLOATS = 65_536 * 128
MATCHES_CACHED = 16  # filters whose matches a collection keeps between writes
# ... and no more bytes than this (labels, bitmaps, the exact plan's vectors); the newest stays
MATCHES_CACHE_BYTES = 256 << 20
# `rescore` fetches this many times k (and at least RESCORE_MIN candidates) from the index
# before exact re-ranking, as LanceDB's refine_factor / Qdrant's oversampling do.
RESCORE_OVERSAMPLE = 4
RESCORE_MIN = 100
KNOBS_MEMO = 64  # distinct validated `params` kept per collection
# Filters keeping at least this share of the points are applied after an unfiltered ANN search
# of `post_filter_width` candidates: one native search instead of a Python callback per visited
# node. Rows that come up short are searched again with the filter inside.
POST_FILTER_SHARE = 0.05
# The width leaves a row short (fewer than k matches among the candidates) with probability
# about 1% when matches are spread at random: z of the binomial's lower tail.
POST_FILTER_Z = 2.33

# (labels, prepared vectors) of the given labels, those not in the view left out
LoadVectors = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(slots=True)  # not frozen: a frozen init costs 3x, times k hits a search
class Hit:
    """One search result; payload and vector are filled only when asked for. The payload stays
    the stored JSON text: a REST answer splices it unparsed, other readers decode `payload`."""

    id: str
    score: float
    payload_json: str | None = None
    vector: np.ndarray | None = None

    @property
    def payload(self) -> dict[str, Any] | None:
        return None if self.payload_json is None else decode_payload(self.payload_json)


class Matches:
    """The sorted labels a filter keeps and what searches derive from them: a bitmap for
    membership, and for small sets their prepared vectors. Built by readers on first use (a
    race only repeats the work); the Collection drops every entry on a write."""

    __slots__ = ("labels", "_bitmap", "_vectors")

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self._bitmap: np.ndarray | None = None
        self._vectors: tuple[np.ndarray, np.ndarray] | None = None

    def scan_floats(self, dim: int) -> int:
        return len(self.labels) * dim

    @property
    def nbytes(self) -> int:
        """Memory held: labels, bitmap and vectors once built."""
        held = [self.labels, self._bitmap, *(self._vectors or ())]
        return sum(a.nbytes for a in held if a is not None)

    def contains(self, found: np.ndarray) -> np.ndarray:
        """Which of `found` (labels, -1 padded) the filter keeps."""
        bitmap = self._bitmap
        if bitmap is None:
            # label x at x + 1, False at both ends: -1 and every label past the last match
            # (clipped to the end) read False with one `take`, no masks
            top = int(self.labels[-1]) if len(self.labels) else -1
            bitmap = np.zeros(top + 3, bool)
            bitmap[self.labels + 1] = True
            self._bitmap = bitmap
        return np.take(bitmap, found + 1, mode="clip")

    def vectors(self, load: LoadVectors) -> tuple[np.ndarray, np.ndarray]:
        """(labels, prepared vectors) of the matches, from `load`; kept when small."""
        if self._vectors is not None:
            return self._vectors
        loaded = load(self.labels)
        if loaded[1].size <= EXACT_SCAN_FLOATS:
            self._vectors = loaded
        return loaded


def exact_top_k(
    metric: Metric, queries: np.ndarray, k: int, labels: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of `labels` for each query, scored exactly against their `vectors`."""
    scores = metric.scores(queries, vectors)
    rows = np.arange(len(scores))[:, None]
    if k < scores.shape[1]:  # the k best of each row, then only those sorted
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = part[rows, np.argsort(-scores[rows, part], axis=1, kind="stable")]
    else:
        order = np.argsort(-scores, axis=1, kind="stable")
    return labels[order], scores[rows, order]


def rescore(
    metric: Metric, queries: np.ndarray, shortlist: np.ndarray, k: int, load: LoadVectors
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each query's shortlist with exact scores from the stored vectors (k past the
    shortlist's width is that width: a k of 2**31 allocated 24 GB for five points)."""
    k = min(k, shortlist.shape[1])
    candidates = np.unique(shortlist[shortlist >= 0])
    stored, vectors = load(candidates)
    column = {int(label): i for i, label in enumerate(stored)}
    exact = metric.scores(queries, vectors)
    labels = np.full((len(queries), k), -1, np.int64)
    scores = np.full((len(queries), k), -np.inf, np.float32)
    for row, found in enumerate(shortlist):
        keep = [int(x) for x in found if int(x) in column]
        row_scores = exact[row, [column[x] for x in keep]]
        order = np.argsort(-row_scores, kind="stable")[:k]
        labels[row, : len(order)] = np.asarray(keep, np.int64)[order]
        scores[row, : len(order)] = row_scores[order]
    return labels, scores


def post_filtered(
    index: VectorIndex,
    queries: np.ndarray,
    k: int,
    matches: Matches,
    knobs: dict[str, Any],
    live: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A wide filter: the allowed hits among an unfiltered, oversampled ANN search of an index
    holding `live` points."""
    allowed = matches.labels
    wide = min(live, post_filter_width(k, len(allowed) / max(live, 1)))
    found, found_scores = index.search(queries, wide, **knobs)
    keep = matches.contains(found)
    labels = np.full((len(queries), k), -1, np.int64)
    scores = np.full((len(queries), k), -np.inf, np.float32)
    short = []
    for row, kept in enumerate(keep):
        at = np.flatnonzero(kept)[:k]
        labels[row, : len(at)] = found[row, at]
        scores[row, : len(at)] = found_scores[row, at]
        if len(at) < min(k, len(allowed)):
            short.append(row)
    if short:  # the nearest points were mostly filtered out: steer the search instead
        again, again_scores = index.search(queries[short], k, allowed=allowed, **knobs)
        labels[short], scores[short] = -1, -np.inf
        labels[short, : again.shape[1]] = again
        scores[short, : again.shape[1]] = again_scores
    return labels, scores


def post_filter_width(k: int, share: float) -> int:
    """Candidates to fetch so that k of them pass a filter keeping `share` of the points, short
    about 1% of the time: the smallest n with n·s - z·sqrt(n·s·(1-s)) >= k (normal bound of the
    binomial). About 2k/s at narrow shares; less at wide ones (34 for k=10 at 50%, not 40)."""
    spread = POST_FILTER_Z * np.sqrt(share * (1 - share))
    root = (spread + np.sqrt(spread**2 + 4 * share * k)) / (2 * share)
    return max(k, int(np.ceil(root**2)))


def concat(batches: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """One (labels, vectors) pair out of the store's batches."""
    pairs = list(batches)
    if not pairs:
        return np.empty(0, np.int64), np.empty((0, dim), np.float32)
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

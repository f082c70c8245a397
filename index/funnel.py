"""Matryoshka funnel search: shortlist on low-dimensional prefixes, re-rank with full vectors.

Adaptive retrieval as in Kusupati et al. (2022): the first `dims[0]` coordinates of every stored
vector (renormalised for cosine) form a small tier that is scanned exhaustively; each further
tier re-ranks the survivors at a larger prefix; the last shortlist is scored exactly with the
full vectors. With a shortlist as large as the collection it is exact search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.errors import IndexError_
from index.metrics import Metric


class InvalidFunnel(IndexError_):
    code = "invalid_funnel"


class InvalidFunnelDimension(InvalidFunnel):
    code = "invalid_dimension"


@dataclass(frozen=True)
class FunnelSpec:
    """Tier dims (increasing, each below the full dim) and the candidates kept after each."""

    dims: tuple[int, ...]
    shortlist: tuple[int, ...]

    @classmethod
    def parse(cls, raw: dict[str, Any], dim: int, field: str = "funnel") -> FunnelSpec:
        """Validate `{"dims": [...], "shortlist": n | [...]}` against a collection dimension."""
        dims = tuple(int(d) for d in raw.get("dims") or ())
        if not dims:
            raise InvalidFunnelDimension("funnel needs at least one dim", f"{field}.dims")
        if list(dims) != sorted(set(dims)):
            raise InvalidFunnelDimension(
                f"funnel dims must be strictly increasing, got {list(dims)}", f"{field}.dims"
            )
        if dims[0] < 1 or dims[-1] >= dim:
            raise InvalidFunnelDimension(
                f"funnel dims must lie in [1, {dim - 1}] (below the collection dim {dim})",
                f"{field}.dims",
            )
        raw_short = raw.get("shortlist", 200)
        short = (raw_short,) * len(dims) if isinstance(raw_short, int) else tuple(raw_short)
        if len(short) != len(dims) or any(s < 1 for s in short):
            raise InvalidFunnel(
                "shortlist must be a positive int or one positive int per dim",
                f"{field}.shortlist",
            )
        return cls(dims, short)


class FunnelSearch:
    """Full prepared vectors in memory plus lazily built prefix tiers, kept in step with writes.

    The first tier is scanned by a faiss flat index (SIMD, one thread for a few queries: a
    BLAS matrix-vector product oversubscribes threads and is several times slower on a busy
    machine); later tiers and the exact re-rank score only the shortlisted rows.
    Not thread-safe: the Collection calls it under its lock.
    """

    def __init__(self, metric: Metric, dim: int) -> None:
        self.metric, self.dim = metric, dim
        self.labels = np.empty(0, np.int64)
        self.full = np.empty((0, dim), np.float32)
        self._tiers: dict[int, np.ndarray] = {}
        self._scans: dict[int, Any] = {}  # dim -> faiss flat index over that tier, by row
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def tier(self, d: int) -> np.ndarray:
        """Stored vectors cut to `d` dims, prepared by the metric (cosine: renormalised)."""
        if d not in self._tiers:
            self._tiers[d] = self.metric.prepare(self.full[:, :d])
        return self._tiers[d]

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Append prepared full vectors under new labels."""
        if not len(labels):
            return
        self.labels = np.concatenate([self.labels, np.asarray(labels, np.int64)])
        self.full = np.concatenate([self.full, vectors.astype(np.float32)])
        for d, tier in self._tiers.items():
            fresh = self.metric.prepare(vectors[:, :d])
            self._tiers[d] = np.concatenate([tier, fresh])
            if d in self._scans:
                self._scans[d].add(fresh)
        self._reindex()

    def remove(self, labels: np.ndarray) -> None:
        if not len(labels) or not len(self.labels):
            return
        keep = ~np.isin(self.labels, np.asarray(labels, np.int64))
        if keep.all():
            return
        self.labels, self.full = self.labels[keep], self.full[keep]
        self._tiers = {d: tier[keep] for d, tier in self._tiers.items()}
        self._scans = {}  # rows moved: rebuilt on the next search
        self._reindex()

    def _scan(self, d: int) -> Any:
        """The faiss flat index of tier `d` (row i of the tier is faiss id i)."""
        if d not in self._scans:
            import faiss

            index = faiss.IndexFlatIP(d) if self.metric.kind == "ip" else faiss.IndexFlatL2(d)
            index.add(self.tier(d))
            self._scans[d] = index
        return self._scans[d]

    def _shortlist(
        self, queries: np.ndarray, d: int, keep: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        """(nq, keep) rows best on tier `d`, -1 padded when fewer rows are allowed."""
        import faiss

        from index.backends.common import faiss_threads_for

        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(self._rows(allowed)))
        with faiss_threads_for(len(queries)):
            _, rows = self._scan(d).search(self._query_tier(queries, d), keep, params=params)
        return rows.astype(np.int64)

    def _reindex(self) -> None:
        self._row = {label: row for row, label in enumerate(self.labels.tolist())}

    def search(
        self,
        queries: np.ndarray,
        k: int,
        spec: FunnelSpec,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores), each (nq, k), -1 / -inf padded; `queries` prepared full vectors."""
        nq = len(queries)
        labels = np.full((nq, k), -1, np.int64)
        scores = np.full((nq, k), -np.inf, np.float32)
        if not len(self.labels) or not nq:
            return labels, scores
        keep0 = min(max(spec.shortlist[0], k), len(self.labels))
        candidates = self._shortlist(queries, spec.dims[0], keep0, allowed)
        valid = candidates >= 0
        candidates = np.where(valid, candidates, 0)  # padding: any row, scored -inf below
        for d, keep in zip(spec.dims[1:], spec.shortlist[1:], strict=True):
            tier_scores = self._pair_scores(self._query_tier(queries, d), self.tier(d), candidates)
            best = _top(np.where(valid, tier_scores, -np.inf), max(keep, k))
            candidates = np.take_along_axis(candidates, best, axis=1)
            valid = np.take_along_axis(valid, best, axis=1)
        exact = np.where(valid, self._pair_scores(queries, self.full, candidates), -np.inf)
        best = _top(exact, k, ordered=True)
        n = best.shape[1]
        found = np.take_along_axis(exact, best, axis=1)
        rows = np.take_along_axis(candidates, best, axis=1)
        labels[:, :n] = np.where(np.isfinite(found), self.labels[rows], -1)
        scores[:, :n] = found
        return labels, scores

    def _rows(self, allowed: np.ndarray | None) -> np.ndarray:
        if allowed is None:
            return np.arange(len(self.labels))
        found = [self._row[x] for x in np.asarray(allowed).tolist() if x in self._row]
        return np.asarray(sorted(found), np.int64)

    def _query_tier(self, queries: np.ndarray, d: int) -> np.ndarray:
        return self.metric.prepare(queries[:, :d])

    def _pair_scores(
        self, queries: np.ndarray, vectors: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """Score query i against vectors[rows[i]] only: (nq, s)."""
        gathered = vectors[rows]  # (nq, s, d)
        if self.metric.kind == "ip":
            return np.einsum("qsd,qd->qs", gathered, queries)
        diff = gathered - queries[:, None, :]
        return -np.sqrt(np.einsum("qsd,qsd->qs", diff, diff))


def _top(scores: np.ndarray, k: int, ordered: bool = False) -> np.ndarray:
    """Column indices of the k best scores per row (best first when `ordered`)."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    if not ordered:
        return part
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def check_nested(spec: FunnelSpec, nested: Sequence[int], encoder: str, field: str) -> None:
    """A collection whose encoder declares nested dims may funnel through those only."""
    allowed = sorted(d for d in nested if d < max(nested, default=0))
    bad = [d for d in spec.dims if d not in allowed]
    if bad:
        listed = ", ".join(map(str, allowed)) or "none (it is not Matryoshka-trained)"
        raise InvalidFunnelDimension(
            f"encoder {encoder!r} cannot funnel through dims {bad}; allowed: {listed}",
            f"{field}.dims",
        )

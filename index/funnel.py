"""Matryoshka funnel search: shortlist on low-dimensional prefixes, re-rank with full vectors.

Adaptive retrieval as in Kusupati et al. (2022): the first `dims[0]` coordinates of every stored
vector (renormalised for cosine) form a small tier, searched by an HNSW graph over that prefix
(`tier: "hnsw"`, the default) or scanned exhaustively (`tier: "flat"`); each further tier
re-ranks the survivors at a larger prefix; the last shortlist is scored exactly with the full
vectors. With a flat tier and a shortlist as large as the collection it is exact search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from index.backends.hnsw import HnswIndex, HnswParams
from index.funnel_spec import FunnelSpec, InvalidFunnel
from index.metrics import Metric

SORT_WHOLE = 512  # final shortlists up to this long are sorted whole (see `search`)
# Prefix tiers are kept for each dim asked for: their dims sum to at most this times the full
# dim (64, 128, 256 of 384 fit); one request for dims 1..127 held 80x the vectors till restart
TIER_BUDGET = 2


class FunnelSearch:
    """Full prepared vectors in memory plus lazily built prefix tiers, kept in step with writes.

    The first tier is searched by an HNSW graph over the prefix (hnswlib; stored labels as its
    labels, so deletes only mark them) or scanned by a faiss flat index (SIMD, one thread for a
    few queries: a BLAS matrix-vector product oversubscribes threads and is several times slower
    on a busy machine). Filtered searches always scan flat, with the allowed rows as a faiss
    selector: a Python filter callback per visited graph node would cost more than the scan.
    Later tiers and the exact re-rank score only the shortlisted rows.
    Thread-safety: `add` and `remove` need exclusive use (the Collection holds the write side
    of its lock); searches may run together, and a structure one of them builds on first use
    is built once, under `_building`. The graph's ef is gated as in the hnsw backend.
    """

    def __init__(self, metric: Metric, dim: int, graph: HnswParams | None = None) -> None:
        self.metric, self.dim = metric, dim
        self.graph_params = graph or HnswParams()
        # Rows [0, _n) of equally long buffers (labels, full vectors, each tier) hold the live
        # points: appends double the capacity and a removal moves the last rows into the holes,
        # so a write costs its own rows, not a copy of the collection (at 50k 384-d points a
        # one-point upsert cost 37 ms with the funnel built against 3 without).
        self._n = 0
        self._labels = np.empty(0, np.int64)
        self._full = np.empty((0, dim), np.float32)
        self._tiers: dict[int, np.ndarray] = {}  # dim -> prefix buffer, rows as above
        self._scans: dict[int, Any] = {}  # dim -> faiss flat index over that tier, by row
        self._graphs: dict[int, HnswIndex] = {}  # dim -> HNSW over that tier, by label
        self._row: dict[int, int] = {}
        self._building = threading.Lock()

    def __len__(self) -> int:
        return self._n

    @property
    def labels(self) -> np.ndarray:
        return self._labels[: self._n]

    @property
    def full(self) -> np.ndarray:
        return self._full[: self._n]

    def _once(self, built: dict[int, Any], d: int, make: Callable[[], Any]) -> Any:
        """`built[d]`, made by `make()` under `_building` the first time (one build, shared)."""
        found = built.get(d)
        if found is None:
            with self._building:
                if d not in built:
                    built[d] = make()
                found = built[d]
        return found

    def built(self, spec: FunnelSpec, filtered: bool) -> bool:
        """Whether a search with `spec` finds every structure it reads already built."""
        first = self._graphs if spec.tier == "hnsw" and not filtered else self._scans
        return all(d in self._tiers for d in spec.dims) and spec.dims[0] in first

    def build(self, spec: FunnelSpec, filtered: bool) -> None:
        """Build the tiers and first-tier graph or scan a search with `spec` reads. Callers keep
        writers out, not searches: built inside a search, under the view's read lock, a graph
        (seconds) held every search behind the write that queued meanwhile."""
        kept, new = sorted(self._tiers), [d for d in spec.dims if d not in self._tiers]
        if new and sum(kept) + sum(new) > TIER_BUDGET * self.dim:
            raise InvalidFunnel(
                f"this collection keeps funnel tiers for dims {kept}; tiers for {new} would "
                f"pass {TIER_BUDGET}x the full vectors' memory (use kept dims)",
                "funnel.dims",
            )
        for d in spec.dims:
            self.tier(d)
        if spec.tier == "hnsw" and not filtered:
            self._graph(spec.dims[0])
        else:
            self._scan(spec.dims[0])

    def tier(self, d: int) -> np.ndarray:
        """Stored vectors cut to `d` dims, prepared by the metric (cosine: renormalised)."""

        def make() -> np.ndarray:
            buffer = np.empty((len(self._full), d), np.float32)
            buffer[: self._n] = self.metric.prepare(self.full[:, :d])
            return buffer

        return self._once(self._tiers, d, make)[: self._n]  # type: ignore[no-any-return]

    def ready(self, spec: FunnelSpec, filtered: bool = False) -> bool:
        """Whether a search with `spec` reads only built structures and no full tier scan."""
        return spec.tier == "hnsw" and not filtered and self.built(spec, filtered)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Append prepared full vectors under new labels."""
        if not len(labels):
            return
        labels = np.asarray(labels, np.int64)
        start, stop = self._n, self._n + len(labels)
        if stop > len(self._labels):
            capacity = max(stop, 2 * len(self._labels), 1024)
            self._labels = _grown(self._labels, start, capacity)
            self._full = _grown(self._full, start, capacity)
            self._tiers = {d: _grown(tier, start, capacity) for d, tier in self._tiers.items()}
        self._labels[start:stop] = labels
        self._full[start:stop] = vectors
        for d, tier in self._tiers.items():
            fresh = self.metric.prepare(vectors[:, :d])
            tier[start:stop] = fresh
            if d in self._scans:
                self._scans[d].add(fresh)
            if d in self._graphs:
                self._graphs[d].add(labels, fresh)
        self._row.update(zip(labels.tolist(), range(start, stop), strict=True))
        self._n = stop

    def remove(self, labels: np.ndarray) -> None:
        """Drop labels (unknown ones are ignored)."""
        gone = [x for x in np.asarray(labels).tolist() if x in self._row]
        if not gone:
            return
        rows = np.asarray([self._row.pop(x) for x in gone], np.int64)
        end = self._n - len(rows)
        holes = np.sort(rows[rows < end])
        leaving_tail = np.zeros(self._n - end, bool)
        leaving_tail[rows[rows >= end] - end] = True
        movers = np.arange(end, self._n)[~leaving_tail]  # as many live rows as holes
        for buffer in (self._labels, self._full, *self._tiers.values()):
            buffer[holes] = buffer[movers]
        self._row.update(zip(self._labels[holes].tolist(), holes.tolist(), strict=True))
        self._n = end
        self._scans = {}  # rows moved: rebuilt on the next search
        for graph in self._graphs.values():  # labels, not rows: marking them deleted suffices
            graph.remove(np.asarray(gone, np.int64))

    def _scan(self, d: int) -> Any:
        """The faiss flat index of tier `d` (row i of the tier is faiss id i)."""

        def make() -> Any:
            import faiss

            flat = faiss.IndexFlatIP(d) if self.metric.kind == "ip" else faiss.IndexFlatL2(d)
            flat.add(tier)
            return flat

        tier = self.tier(d)  # built first: `_building` is not re-entrant
        return self._once(self._scans, d, make)

    def _graph(self, d: int) -> HnswIndex:
        """The HNSW graph of tier `d`, labelled with the stored labels."""

        def make() -> HnswIndex:
            graph = HnswIndex(d, self.metric, self.graph_params)
            graph.add(self.labels, tier)
            return graph

        tier = self.tier(d)  # built first: `_building` is not re-entrant
        return self._once(self._graphs, d, make)  # type: ignore[no-any-return]

    def _shortlist(
        self, queries: np.ndarray, spec: FunnelSpec, keep: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        """(nq, keep) rows best on the first tier, -1 padded when fewer rows are found."""
        d = spec.dims[0]
        if spec.tier == "hnsw" and allowed is None:
            try:
                found, _ = self._graph(d).search(
                    self._query_tier(queries, d), keep, ef=spec.tier_ef(keep)
                )
            except RuntimeError:  # hnswlib found fewer than `keep` even exhaustively
                pass
            else:
                if found.shape[1] == keep:
                    return self._rows_of(found)
                rows = np.full((len(queries), keep), -1, np.int64)
                rows[:, : found.shape[1]] = self._rows_of(found)
                return rows
        return self._flat_shortlist(queries, d, keep, allowed)

    def _flat_shortlist(
        self, queries: np.ndarray, d: int, keep: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        import faiss

        from index.backends.common import faiss_threads_for

        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(self._rows(allowed)))
        with faiss_threads_for(len(queries)):
            _, rows = self._scan(d).search(self._query_tier(queries, d), keep, params=params)
        return rows.astype(np.int64)

    def _rows_of(self, labels: np.ndarray) -> np.ndarray:
        """Rows of labels the graph returned (all stored: hnswlib pads with nothing)."""
        return np.fromiter(
            (self._row[x] for x in labels.ravel().tolist()), np.int64, labels.size
        ).reshape(labels.shape)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        spec: FunnelSpec,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores), each (nq, k), -1 / -inf padded, k at most the points held (a k of
        2**31 allocated 24 GB); `queries` prepared full vectors."""
        nq, k = len(queries), min(k, len(self.labels))
        if not len(self.labels) or not nq:
            return np.full((nq, k), -1, np.int64), np.full((nq, k), -np.inf, np.float32)
        keep0 = min(max(spec.shortlist[0], k), len(self.labels))
        candidates = self._shortlist(queries, spec, keep0, allowed)
        valid = candidates >= 0
        complete = bool(valid.all())  # the usual case: skip the padding bookkeeping
        if not complete:
            candidates = np.where(valid, candidates, 0)  # padding: any row, scored -inf below
        for d, keep in zip(spec.dims[1:], spec.shortlist[1:], strict=True):
            tier_scores = self._pair_scores(self._query_tier(queries, d), self.tier(d), candidates)
            best = _top(np.where(valid, tier_scores, -np.inf), max(keep, k))
            candidates = np.take_along_axis(candidates, best, axis=1)
            valid = np.take_along_axis(valid, best, axis=1)
        exact = self._pair_scores(queries, self.full, candidates)
        if not complete:
            exact[~valid] = -np.inf
        # one stable sort of a short row costs less than partition + sort + two gathers
        if exact.shape[1] <= SORT_WHOLE:
            best = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        else:
            best = _top(exact, k, ordered=True)
        at = np.arange(nq)[:, None]
        found, labels = exact[at, best], self.labels[candidates[at, best]]
        if not complete:
            labels[~np.isfinite(found)] = -1
        if best.shape[1] == k:
            return labels, found
        padded = np.full((nq, k), -1, np.int64), np.full((nq, k), -np.inf, np.float32)
        padded[0][:, : best.shape[1]], padded[1][:, : best.shape[1]] = labels, found
        return padded

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
            return np.matmul(gathered, queries[:, :, None])[:, :, 0]  # BLAS, not einsum's loop
        diff = gathered - queries[:, None, :]
        return -np.sqrt(np.einsum("qsd,qsd->qs", diff, diff))


def _grown(buffer: np.ndarray, rows: int, capacity: int) -> np.ndarray:
    """A buffer of `capacity` rows starting with the first `rows` of `buffer`."""
    grown = np.empty((capacity, *buffer.shape[1:]), buffer.dtype)
    grown[:rows] = buffer[:rows]
    return grown


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

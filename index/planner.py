"""Search planning: which plan answers a search (exact, ANN, rescore, post-filter, funnel), the
filter match cache and the memo of validated query knobs. A mixin of `Collection`, which holds
the in-memory view these read under the read side of `_rw`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from index.base import VectorIndex
from index.collection_config import CollectionConfig
from index.filter_model import Filter
from index.filters import parse_filter
from index.funnel import FunnelSearch
from index.funnel_spec import FunnelSpec
from index.locks import ReadWriteLock
from index.metrics import Metric
from index.payload_index import PayloadIndex
from index.plans import (
    EXACT_FILTER_LIMIT,
    EXACT_SCAN_FLOATS,
    KNOBS_MEMO,
    MATCHES_CACHE_BYTES,
    MATCHES_CACHED,
    POST_FILTER_SHARE,
    RESCORE_MIN,
    RESCORE_OVERSAMPLE,
    Hit,
    Matches,
    concat,
    exact_top_k,
    post_filtered,
    rescore,
)
from index.registry import validate_params
from index.store import PointStore
from index.vector_table import VectorTable

_NO_SKIP: frozenset[str] = frozenset()


class SearchPlanner:
    """Collection's read path: plans a search and runs it (state lives on `Collection`)."""

    config: CollectionConfig
    store: PointStore
    metric: Metric
    backend: type[VectorIndex]
    index: VectorIndex
    _lock: threading.RLock
    _rw: ReadWriteLock
    _ids: dict[int, str]
    _pending: bool
    _native_filter: bool
    _payload_index: PayloadIndex | None
    _funnel: FunnelSearch | None
    _table: VectorTable | None
    _matches: dict[str, Matches]
    _default_knobs: tuple[Any, dict[str, Any]] | None
    _knobs_seen: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]]

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        filter: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        exclude: Sequence[Sequence[str]] | None = None,
        with_payload: bool = True,
        with_vector: bool = False,
        funnel: dict[str, Any] | None = None,
    ) -> list[list[Hit]]:
        """Top-k hits per query, best first, payloads joined; `exclude[i]`: ids query i skips.

        `funnel` ({"dims": [...], "shortlist": n}) shortlists on low-dim prefixes and re-ranks
        exactly with the full vectors (index.funnel) instead of asking the index.

        Searches do not wait for writes, whose store commit lands before the in-memory view
        follows. A search that meets such a commit (a payload row already replaced, a filter
        match SQLite has and the view not yet) is asked again under the writer mutex, once the
        view has caught up: a point re-upserted unchanged never drops out of the answers.
        """
        args = (queries, k, filter, params, exclude, with_payload, with_vector, funnel)
        try:
            return self._search_view(*args)
        except StaleView:
            with self._lock:  # no commit lands meanwhile: store and view agree
                return self._search_view(*args)

    def _search_view(
        self,
        queries: np.ndarray,
        k: int,
        filter: dict[str, Any] | None,
        params: dict[str, Any] | None,
        exclude: Sequence[Sequence[str]] | None,
        with_payload: bool,
        with_vector: bool,
        funnel: dict[str, Any] | None,
    ) -> list[list[Hit]]:
        spec = None if funnel is None else FunnelSpec.parse(funnel, self.config.dim)
        knobs = self._knobs(params)
        prepared = self.metric.prepare(queries)
        flt = parse_filter(filter)
        skips = [set(e) for e in exclude] if exclude else [_NO_SKIP] * len(queries)
        fetch = k + max(map(len, skips), default=0)
        if self._pending:  # as a writer first: the index must hold every committed point
            with self._lock:
                self._catch_up()
        funnel = self._funnel  # an empty one is falsy (len 0): compared with None
        if spec is not None and (funnel is None or not funnel.built(spec, flt is not None)):
            with self._lock:  # writers wait meanwhile, searches go on (none holds the view)
                self._build_funnel()
                self._funnel_search().build(spec, flt is not None)
        wants_table = flt is not None or knobs[0].rescore or knobs[0].exact
        if wants_table and self._table is None and not self._native_filter:
            with self._lock:
                self._build_table()
        with self._rw.read():
            matches = None if flt is None or self._native_filter else self._matches_of(flt)
            allowed = None if matches is None else matches.labels
            scope = {"filter": flt} if self._native_filter and flt is not None else {}
            share = 0.0 if allowed is None else len(allowed) / max(len(self._ids), 1)
            if knobs[0].exact:  # Qdrant's `exact: true`: every live vector the filter keeps
                keep = allowed if flt is None or allowed is not None else self._matching(flt)
                stored, vectors = self._prepared_vectors(keep)  # None keeps all
                labels, scores = exact_top_k(self.metric, prepared, fetch, stored, vectors)
            elif spec is not None:
                if flt is not None and allowed is None:  # a natively filtering backend
                    allowed = self._matching(flt)
                labels, scores = self._funnel_search().search(prepared, fetch, spec, allowed)
            elif matches is not None and (
                len(matches.labels) <= max(EXACT_FILTER_LIMIT, fetch)
                or (
                    share < POST_FILTER_SHARE
                    and matches.scan_floats(self.config.dim) <= EXACT_SCAN_FLOATS
                )
            ):
                stored, vectors = matches.vectors(self._prepared_vectors)
                labels, scores = exact_top_k(self.metric, prepared, fetch, stored, vectors)
            elif matches is not None and not knobs[0].rescore and share >= POST_FILTER_SHARE:
                labels, scores = post_filtered(
                    self.index, prepared, fetch, matches, knobs[1], len(self._ids)
                )
            elif knobs[0].rescore:
                shortlist, _ = self.index.search(
                    prepared,
                    max(fetch * RESCORE_OVERSAMPLE, RESCORE_MIN),
                    allowed=allowed,
                    **scope,
                    **knobs[1],
                )
                labels, scores = rescore(
                    self.metric, prepared, shortlist, fetch, self._prepared_vectors
                )
            else:
                labels, scores = self.index.search(
                    prepared, fetch, allowed=allowed, **scope, **knobs[1]
                )
            rows = zip(labels, scores, skips, strict=True)
            return [self._hits(ls, ss, k, skip, with_payload, with_vector) for ls, ss, skip in rows]

    def reads_in_memory(
        self, filter: Any = None, funnel: Any = None, params: dict[str, Any] | None = None
    ) -> bool:
        """Whether a search with this filter and funnel reads only structures already built in
        memory (a sublinear index, a payload index that answers the filter, the vector table):
        short enough to run on the caller's event loop. False when it would scan every vector,
        call a remote engine, scan the store, build something first or wait for a writer."""
        # a write in progress would hold the reader up for the whole index add (a race that
        # starts one just after this check costs one add's wait, rarely)
        flt = parse_filter(filter)
        if self.backend.scans_all or self._native_filter or self._pending or self._rw.contended:
            return False
        if params and params.get("exact") is True:  # a scan of every vector
            return False
        if funnel is not None:  # its tiers and graph must be built; a flat tier scans them all
            spec = FunnelSpec.parse(funnel, self.config.dim)
            if self._funnel is None or not self._funnel.ready(spec, filtered=flt is not None):
                return False
        if flt is None:
            return True
        index = self._payload_index
        return self._table is not None and index is not None and index.covers(flt)

    def _build_funnel(self) -> None:
        """Load the funnel's full vectors and prefix tiers from the store (callers hold `_lock`:
        no commit lands meanwhile, so the store and the view agree; searches go on)."""
        if self._funnel is None:
            funnel = FunnelSearch(self.metric, self.config.dim)
            for labels, vectors in self.store.iter_vectors():
                funnel.add(labels, self.metric.prepare(vectors))
            with self._rw.write():
                self._funnel = funnel

    def _build_table(self) -> None:
        """Load every stored vector into the in-memory table (under `_lock`, as the funnel)."""
        if self._table is None:
            table = VectorTable(self.config.dim)
            for labels, vectors in self.store.iter_vectors():
                table.add(labels, self.metric.prepare(vectors))
            with self._rw.write():
                self._table = table

    def _prepared_vectors(self, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(labels in the view, their prepared vectors; every one for None): from memory once
        the table is built."""
        if self._table is not None:
            return self._table.rows() if labels is None else self._table.get(labels)
        listed = None if labels is None else labels.tolist()
        stored, vectors = concat(self.store.iter_vectors(listed), self.config.dim)
        # a point committed but not yet in the view is not an answer yet (see the class docs)
        seen = np.fromiter((x in self._ids for x in stored.tolist()), bool, len(stored))
        return stored[seen], self.metric.prepare(vectors[seen])

    def _funnel_search(self) -> FunnelSearch:
        """The in-memory funnel (search builds it first, under `_lock`)."""
        assert self._funnel is not None
        return self._funnel

    def _matches_of(self, flt: Filter) -> Matches:
        """The labels `flt` keeps, cached (with what searches derive from them) until the next
        write: a repeated filter (a tenant, a category) is evaluated once, not per query."""
        key = flt.cache_key
        found = self._matches.get(key)
        if found is None:
            labels = self._matching(flt)
            live = self._live_labels()
            at = np.searchsorted(live, labels).clip(max=max(len(live) - 1, 0))
            if len(labels) and (not len(live) or not (live[at] == labels).all()):
                raise StaleView  # matches of a commit the view has not taken in yet
            found = Matches(labels)
            # readers race here (under the read lock): a pop of a key already gone is harmless
            while (oldest := next(iter(self._matches), None)) is not None and (
                len(self._matches) >= MATCHES_CACHED
                or sum(m.nbytes for m in list(self._matches.values())) > MATCHES_CACHE_BYTES
            ):
                self._matches.pop(oldest, None)
            self._matches[key] = found
        return found

    def _knobs(self, params: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        """Validated query knobs and the backend's share of them; the defaults are cached."""
        if params:
            # memoised by value and type (True == 1 must not share an entry): validating a
            # pydantic model costs as much as a small search
            key = tuple(sorted((k, type(v), v) for k, v in params.items() if _plain(v)))
            found = self._knobs_seen.get(key) if len(key) == len(params) else None
            if found is None:
                knobs = validate_params(self.backend.Query, params, "params")
                found = (knobs, knobs.backend_knobs())
                if len(key) == len(params):
                    if len(self._knobs_seen) >= KNOBS_MEMO:
                        self._knobs_seen.clear()
                    self._knobs_seen[key] = found
            return found
        if self._default_knobs is None:
            knobs = self.backend.Query()
            self._default_knobs = (knobs, knobs.backend_knobs())
        return self._default_knobs

    def _hits(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        k: int,
        exclude: set[str],
        with_payload: bool,
        with_vector: bool,
    ) -> list[Hit]:
        ids, hits, found = self._ids, [], []
        for label, score in zip(labels.tolist(), scores.tolist(), strict=True):
            point = ids.get(label)  # -1 padding and labels left the view are None
            if point is not None and point not in exclude:
                hits.append(Hit(point, score))
                found.append(label)
                if len(hits) == k:
                    break
        if not (with_payload or with_vector):
            return hits
        stored = {p.label: p for p in self.store.by_labels(found, with_vector)}
        for label, hit in zip(found, hits, strict=True):
            row = stored.get(label)
            if row is None:  # replaced or deleted by a commit the view has not taken in yet
                raise StaleView
            hit.payload_json = row.payload_json if with_payload else None
            hit.vector = row.vector
        return hits


class StaleView(Exception):
    """The store holds a commit the in-memory view has not taken in yet."""


def _plain(value: Any) -> bool:
    return value is None or type(value) in (bool, int, float, str)

"""A collection: config, SQLite store (source of truth) and an ANN index snapshot kept in step.

`Collection` is the one public object. Its halves live beside it: snapshots and reconcile in
`index.snapshot`, search planning in `index.planner` (plans in `index.plans`), declared payload
indexes in `index.payload_fields`. This module holds the lifecycle, the writes and the reads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.analysis import insertion_order
from index.analysis.errors import InvalidParameterError
from index.base import VectorIndex
from index.collection_config import CollectionConfig, IndexDefaults
from index.errors import NonFiniteVector, PointNotFound
from index.filters import parse_filter
from index.funnel import FunnelSearch
from index.locks import ReadWriteLock
from index.metrics import METRICS, Metric
from index.payload_fields import PAYLOAD_INDEXES_KEY, PayloadFields
from index.payload_index import PayloadIndex
from index.planner import SearchPlanner, StaleView
from index.plans import Matches, concat
from index.point_ops import PointOps
from index.registry import index_class, validate_params, with_defaults
from index.snapshot import Snapshots
from index.store import PointStore
from index.stored_point import StoredPoint, check_point_id
from index.texts import recording_texts
from index.vector_table import VectorTable

__all__ = ["STORE_FILE", "REBUILD_BATCH", "Collection", "CollectionConfig", "IndexDefaults"]

STORE_FILE = "store.sqlite3"
# `rebuild` adds vectors this many at a time: backends insert one add() call with several threads
# (hnswlib) or shuffled within levels (faiss), so the requested order holds between batches.
REBUILD_BATCH = 64


class Collection(Snapshots, PayloadFields, SearchPlanner, PointOps):
    """Thread-safe. Writes serialise on `_lock` (an RLock; outside code uses the public
    methods, never the locks); the store commit, fsync included, holds only that. The in-memory
    view (ANN index, ids, funnel, payload index) changes under the write side of `_rw`, and
    reads (search, count, get, page, the analyses' reads) hold only its read side and use the
    store's per-thread read-only connections, so searches run together and never wait for a
    commit. A read between a commit and its in-memory update sees the previous view."""

    def __init__(
        self,
        path: Path,
        config: CollectionConfig,
        store: PointStore,
        index_defaults: IndexDefaults | None = None,
    ) -> None:
        self.path, self.config, self.store = path, config, store
        self.metric: Metric = METRICS[config.metric]
        self.backend = index_class(config.index_type)
        self.params = with_defaults(
            validate_params(self.backend.Params, config.index_params, "index.params", config.dim),
            (index_defaults or {}).get(config.index_type),
        )
        self._native_filter: bool = self.backend.filters_natively  # Milvus: filters itself
        self._lock = threading.RLock()  # the writer mutex: writes, snapshots, rebuilds, close
        self._rw = ReadWriteLock()  # the in-memory view: readers share it, mutations exclude
        self._dirty = False
        # an index write failed after its store commit: reconcile before the next write/search
        self._pending = False
        self._default_knobs: tuple[Any, dict[str, Any]] | None = None
        self._knobs_seen: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
        self._matches: dict[str, Matches] = {}  # filter -> what it keeps, until the next write
        self._funnel: FunnelSearch | None = None  # built on the first funnel search
        # prepared vectors in memory, built on the first filtered or rescored search
        self._table: VectorTable | None = None
        # label -> id in memory, so searches that need no payload never touch SQLite
        self._ids: dict[int, str] = self.store.label_ids()
        self._live: np.ndarray | None = None  # sorted live labels; None after a write
        self._declared: dict[str, str] = dict(store.read_config().get(PAYLOAD_INDEXES_KEY) or {})
        # None when no field is declared: collections without payload indexes pay nothing
        self._payload_index: PayloadIndex | None = self._load_payload_index()
        # the insertion order of the last `rebuild` (None: label order), kept in the snapshot
        self.insertion_order: str | None = None
        self.index: VectorIndex = self._open_index()

    # lifecycle --------------------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: Path, config: CollectionConfig, index_defaults: IndexDefaults | None = None
    ) -> Collection:
        path.mkdir(parents=True)
        store = PointStore(path / STORE_FILE, config.dim)
        store.write_config(asdict(config))
        return cls(path, config, store, index_defaults)

    @classmethod
    def open(cls, path: Path, index_defaults: IndexDefaults | None = None) -> Collection:
        store = PointStore(path / STORE_FILE, dim=0)
        with store.closed_on_error():  # a damaged store is left closed, as it was found
            config = CollectionConfig.from_stored(store.read_config())
            store.dim = config.dim
            return cls(path, config, store, index_defaults)

    def close(self, save: bool = True) -> None:
        """Close the store once writes and reads in flight end (closing under a query crashes)."""
        with self._lock:
            try:
                if save:
                    self.save_snapshot()
            finally:  # unsaved, the next start reconciles the older snapshot with the store
                with self._rw.write():
                    self.store.close()

    # writes -----------------------------------------------------------------------------------
    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]],
        replace_parts_of: Sequence[str] = (),
        texts: Mapping[str, str | None] | None = None,
    ) -> int:
        """Insert or replace points (the last occurrence of a repeated id wins), with the parts
        of the ids and of `replace_parts_of` (`PointStore.upsert`); `texts` for reindex."""
        last = {pid: i for i, pid in enumerate(ids)}
        keep = sorted(last.values())
        ids = [ids[i] for i in keep]
        vectors, payloads = vectors[keep], [payloads[i] for i in keep]
        if not np.isfinite(vectors).all():  # whatever made them (an encoder too): never stored
            bad = ids[int(np.argmin(np.isfinite(vectors).all(axis=1)))]
            raise NonFiniteVector(f"point {bad!r}: vector values must be finite numbers", "points")
        prepared = self.metric.prepare(vectors)
        with self._lock:
            self.store.check_open()  # before the texts file, gone with a dropped collection
            self._catch_up()
            with recording_texts(self.path, texts or {}):  # in write order, put back on failure
                removed, added = self.store.upsert(  # searches go on
                    ids, vectors, payloads, replace_parts_of=replace_parts_of
                )
            with self._rw.write():
                self._forget(removed)
                self._ids.update(zip(added.tolist(), ids, strict=True))
                if self._payload_index is not None:
                    with self._payload_index_follows():
                        self._payload_index.add(added, payloads)
                if self._funnel is not None:  # `_forget` took the replaced labels out of it
                    self._funnel.add(added, prepared)
                if self._table is not None:
                    self._table.add(added, prepared)
                self._dirty = True
                with self._index_follows_store():
                    self.index.remove(removed)
                    self.add_to_index(self.index, added, prepared, payloads)
        return len(ids)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete points by id, each with its parts (a photo's faces); returns how many
        points went."""
        with self._lock:
            self._catch_up()
            removed = self.store.delete(ids)
            with self._rw.write():
                self._forget(removed)
                self._dirty = self._dirty or bool(len(removed))
                with self._index_follows_store():
                    self.index.remove(removed)
        return len(removed)

    def delete_where(self, filter: dict[str, Any]) -> int:
        """Delete every point whose payload matches a filter; returns how many."""
        flt = parse_filter(filter)
        assert flt is not None
        with self._lock:  # no write lands between the match and the delete
            self._catch_up()
            labels = self._matching(flt)
            self.store.delete_labels(labels.tolist())
            with self._rw.write():
                self._forget(labels)
                self._dirty = self._dirty or bool(len(labels))
                with self._index_follows_store():
                    self.index.remove(labels)
        return len(labels)

    @contextmanager
    def _index_follows_store(self) -> Iterator[None]:
        """Index writes after a store commit: if one fails (a remote index down: 503), the
        committed points are durable but unindexed, so the next write or search reconciles."""
        try:
            yield
        except BaseException:
            self._pending = True
            raise

    def _forget(self, labels: np.ndarray) -> None:
        """Take labels out of the in-memory view (callers hold the write side)."""
        if self._funnel is not None:
            self._funnel.remove(labels)
        if self._table is not None:
            self._table.remove(labels)
        if self._payload_index is not None:
            with self._payload_index_follows():
                self._payload_index.remove(labels)
        for label in labels.tolist():
            self._ids.pop(label, None)
        self._live = None
        self._matches = {}  # every write (upserts call this too) may change what filters keep

    def rebuild(
        self, order: str | None = None, seed: int = 0, *, category_field: str | None = None
    ) -> None:
        """Rebuild the index from the store, inserting in insertion-order strategy `order`.

        None keeps label (first-write) order; names are those of `index.analysis`. The order
        "category" groups points by the value of their payload's top-level `category_field`.
        """
        with self._lock:  # no commit lands meanwhile; searches use the old index until the swap
            labels, vectors = concat(self.store.iter_vectors(), self.config.dim)
            vectors = self.metric.prepare(vectors)
            if order is not None and len(labels):  # an empty index has nothing to order
                categories = None if category_field is None else self._categories(category_field)
                perm = insertion_order(order, vectors, seed=seed, categories=categories)
                labels, vectors = labels[perm], vectors[perm]
            index = self.backend(self.config.dim, self.metric, self.params)
            for start in range(0, len(labels), REBUILD_BATCH):
                stop = start + REBUILD_BATCH
                self.add_to_index(index, labels[start:stop], vectors[start:stop])
            with self._rw.write():
                self.index = index
                self.insertion_order = (
                    order if category_field is None else f"{order}:{category_field}"
                )
                self._dirty, self._pending = True, False  # built from the store: no replay
            self.save_snapshot()  # the order is answered as done: it must survive a kill -9

    def _categories(self, key: str) -> np.ndarray:
        """Each point's payload value at top-level `key` as JSON text, in label order."""
        values = []
        for _, payloads in self.store.iter_payloads():
            values += [json.dumps(payload.get(key), sort_keys=True) for payload in payloads]
        if values and set(values) == {"null"}:  # one group: the order would be the stored one
            message = f"insertion order category:{key}: {key!r} is in no payload"
            raise InvalidParameterError(message, field="insertion_order")
        return np.asarray(values)

    def train(self) -> None:
        """Train the index now if it is a trained kind (IVF); others need nothing."""
        if not self.backend.trains:
            return
        with self._lock, self._rw.write():  # trains in place: searches wait
            self.index.train()
            self._dirty = True

    def record_fingerprint(self, fingerprint: str) -> None:
        """Store the fingerprint of the encoder the vectors now come from."""
        with self._lock:
            self.store.write_config({"encoder_fingerprint": fingerprint})
            self.config = replace(self.config, encoder_fingerprint=fingerprint)
            # the snapshot's index.json describes the config: have it rewritten at the next save
            self._dirty = True

    # reads ------------------------------------------------------------------------------------
    def count(self, filter: dict[str, Any] | None = None) -> int:
        """Number of points, or of points matching a filter."""
        flt = parse_filter(filter)
        if flt is None:
            with self._rw.read():
                return self.store.count()
        try:
            with self._rw.read():
                return len(self._matches_of(flt).labels)
        except StaleView:  # a commit the view has not taken in: count once it has (as search)
            with self._lock, self._rw.read():
                return len(self._matches_of(flt).labels)

    def get(self, ids: Sequence[str], with_vector: bool = False) -> list[StoredPoint]:
        """Stored points for ids, in the order first asked; unknown and repeated ids are skipped."""
        with self._rw.read():
            return self.store.by_ids(list(dict.fromkeys(ids)), with_vector)

    def page(self, after: str | None, limit: int, with_vector: bool = False) -> list[StoredPoint]:
        """Points ordered by id after the cursor `after`."""
        with self._rw.read():
            return self.store.page(after, limit, with_vector)

    def vector_of(self, point_id: str, field_name: str = "query.id") -> StoredPoint:
        """The stored point `point_id` with its vector, or PointNotFound (InvalidPointId: NUL)."""
        check_point_id(point_id, field_name)
        found = self.get([point_id], with_vector=True)
        if not found:
            message = f"no point with id {point_id!r} in {self.config.name!r}"
            raise PointNotFound(message, field_name)
        return found[0]

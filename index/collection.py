"""A collection: config, SQLite store (source of truth) and an ANN index snapshot kept in step."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from index.analysis import insertion_order
from index.base import VectorIndex
from index.errors import (
    IndexBackendUnavailable,
    InvalidCollectionConfig,
    PayloadIndexNotFound,
    PointNotFound,
)
from index.filters import Filter, compile_filter, parse_filter
from index.funnel import FunnelSearch, FunnelSpec
from index.locks import ReadWriteLock
from index.metrics import METRICS, Metric
from index.payload_index import FIELD_TYPES, PayloadIndex
from index.registry import index_class, validate_params, with_defaults
from index.store import PointStore, StoredPoint
from index.vector_table import VectorTable

STORE_FILE = "store.sqlite3"
INDEX_DIR = "index"
# a snapshot being written, and the previous one while the new one is moved in (save_snapshot)
TMP_SUFFIX, OLD_SUFFIX = ".tmp", ".old"
META_FILE = "index.json"
# Filters this selective are answered exactly from stored vectors: cheaper than steering the
# graph search through a sparse allowed set, and exact (Qdrant plans small filters the same way).
EXACT_FILTER_LIMIT = 2048
# ... and so are filters narrower than POST_FILTER_SHARE whose rows hold at most this many floats
# (16,384 rows of 128 dims): one matrix product over them costs less than a graph search
# steered by a Python callback (hnswlib `filter=`), whose cost grows as the filter narrows.
EXACT_SCAN_FLOATS = 16_384 * 128
MATCHES_CACHED = 16  # filters whose matches a collection keeps between writes
# `rescore` fetches this many times k (and at least RESCORE_MIN candidates) from the index
# before exact re-ranking, as LanceDB's refine_factor / Qdrant's oversampling do.
RESCORE_OVERSAMPLE = 4
RESCORE_MIN = 100
KNOBS_MEMO = 64  # distinct validated `params` kept per collection
# Filters keeping at least this share of the points are applied after an unfiltered ANN search
# of k / share (x POST_FILTER_OVERSAMPLE) candidates: one native search instead of a Python
# callback per visited node. Rows that come up short are searched again with the filter inside.
POST_FILTER_SHARE = 0.05
POST_FILTER_OVERSAMPLE = 2
_NO_SKIP: frozenset[str] = frozenset()
# `rebuild` adds vectors this many at a time: backends insert one add() call with several threads
# (hnswlib) or shuffled within levels (faiss), so the requested order holds between batches.
REBUILD_BATCH = 64
# The config-table row holding the declared payload indexes ({dotted key: type}). It is kept out
# of CollectionConfig.describe(), which snapshots are checked against: declaring an index must
# not throw a sound ANN snapshot away.
PAYLOAD_INDEXES_KEY = "payload_indexes"

log = logging.getLogger(__name__)


# Service-wide defaults of backend parameters left unset, by backend name (settings -> here)
IndexDefaults = Mapping[str, dict[str, Any]]


@dataclass(frozen=True)
class CollectionConfig:
    name: str
    dim: int
    metric: str = "cosine"
    encoder: str | None = None
    index_type: str = "hnsw"
    index_params: dict[str, Any] = field(default_factory=dict)
    domain: str | None = None  # domain-routed encoders: the domain of this collection's documents
    # what the encoder's vectors came from (encoders' `fingerprint`); None: not recorded yet
    encoder_fingerprint: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "encoder": self.encoder,
            "dim": self.dim,
            "metric": self.metric,
            "index": {"type": self.index_type, "params": self.index_params},
            "domain": self.domain,
            "encoder_fingerprint": self.encoder_fingerprint,
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> CollectionConfig:
        """The config among a store's config rows; other keys (e.g. ingest progress) are skipped."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in stored.items() if key in names})


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; payload and vector are filled only when asked for."""

    id: str
    score: float
    payload: dict[str, Any] | None = None
    vector: np.ndarray | None = None


class Collection:
    """Thread-safe. Writes serialise on `_lock` (an RLock, which outside code holding the
    collection still for a consistent read takes too); the store commit, fsync included, holds
    only that. The in-memory view (ANN index, ids, funnel, payload index) changes under the
    write side of `_rw`, and reads (search, count, get, page) hold only its read side and use
    the store's per-thread read-only connections, so searches run together and never wait
    for a commit. A read between a commit and its in-memory update sees the previous view."""

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
        # backends that store payloads and evaluate filters themselves (Milvus)
        self._native_filter: bool = getattr(self.backend, "filters_natively", False)
        self._lock = threading.RLock()  # the writer mutex: writes, snapshots, rebuilds, close
        self._rw = ReadWriteLock()  # the in-memory view: readers share it, mutations exclude
        self._dirty = False
        # an index write failed after its store commit: reconcile before the next write/search
        self._pending = False
        self._default_knobs: tuple[Any, dict[str, Any]] | None = None
        self._knobs_seen: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
        self._matches: dict[str, _Matches] = {}  # filter -> what it keeps, until the next write
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
        config = CollectionConfig.from_stored(store.read_config())
        store.dim = config.dim
        return cls(path, config, store, index_defaults)

    def close(self) -> None:
        with self._lock:
            try:
                self.save_snapshot()
            finally:  # unsaved, the next start reconciles the older snapshot with the store
                with self._rw.write():  # reads in flight finish before their connections close
                    self.store.close()

    def _open_index(self) -> VectorIndex:
        """Load the newest sound snapshot built with this config, then replay what it misses.

        A snapshot that is missing files, fails its checksums or does not load is skipped with a
        warning: the store holds every point, so the index is rebuilt from it rather than
        failing start-up. An unreachable remote backend is not damage and is raised as it is.
        """
        for snapshot in self._snapshot_candidates():
            try:
                meta = self._verified_meta(snapshot)
                if meta is None:
                    continue  # built with another config: rebuilt below without a word
                index = self.backend.load(snapshot, self.config.dim, self.metric, self.params)
                self._reconcile(index)
            except IndexBackendUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - any damage means: rebuild from the store
                log.warning(
                    "collection %r: index snapshot %s is unusable (%s: %s); rebuilding it "
                    "from the store",
                    self.config.name,
                    snapshot.name,
                    type(exc).__name__,
                    exc,
                )
                continue
            if snapshot.name != INDEX_DIR:
                log.warning(
                    "collection %r: a snapshot write was interrupted; loaded %s instead",
                    self.config.name,
                    snapshot.name,
                )
                self._dirty = True  # the next save puts a snapshot back in its place
            self.insertion_order = meta.get("insertion_order")
            return index
        index = self.backend(self.config.dim, self.metric, self.params)
        self._reconcile(index)
        self._dirty = True
        return index

    def _snapshot_candidates(self) -> list[Path]:
        """Snapshot directories worth trying, best first.

        `save_snapshot` renames the old snapshot aside before moving the new one in, so a crash
        between the two leaves `index.tmp` (complete, checksummed) and `index.old`.
        """
        names = (INDEX_DIR, INDEX_DIR + TMP_SUFFIX, INDEX_DIR + OLD_SUFFIX)
        found = [self.path / name for name in names if (self.path / name).is_dir()]
        if found and found[0].name != INDEX_DIR:
            log.warning("collection %r: no index snapshot in place", self.config.name)
        return found

    def _verified_meta(self, snapshot: Path) -> dict[str, Any] | None:
        """The snapshot's index.json once every file it lists matches its checksum; None when
        the snapshot was built with another config. Raises SnapshotDamaged on any damage."""
        meta_file = snapshot / META_FILE
        if not meta_file.is_file():
            raise SnapshotDamaged(f"{META_FILE} is missing")
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotDamaged(f"{META_FILE} is unreadable: {exc}") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
            raise SnapshotDamaged(f"{META_FILE} lists no file checksums")
        if meta.get("config") != self.config.describe():
            return None
        for name, digest in meta["files"].items():
            file = snapshot / name
            # names come from our own index.json; still, never follow one out of the snapshot
            if Path(name).name != name or not file.is_file():
                raise SnapshotDamaged(f"file {name!r} is missing")
            if _sha256(file) != digest:
                raise SnapshotDamaged(f"file {name!r} does not match its checksum")
        return meta

    def _reconcile(self, index: VectorIndex) -> None:
        # Labels are immutable, so set differences are an exact replay of what changed.
        live = set(self._ids)
        indexed = set(index.labels().tolist())
        stale = np.fromiter(indexed - live, np.int64)
        if len(stale):
            index.remove(stale)
            self._dirty = True
        missing = sorted(live - indexed)
        for labels, vectors in self.store.iter_vectors(missing if indexed else None):
            self.add_to_index(index, labels, self.metric.prepare(vectors))
            self._dirty = True

    def add_to_index(
        self,
        index: VectorIndex,
        labels: np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Add prepared vectors; backends that filter natively also get the payloads."""
        if not self._native_filter:
            index.add(labels, vectors)
            return
        if payloads is None:
            stored = {p.label: p.payload for p in self.store.by_labels(labels.tolist())}
            payloads = [stored[label] for label in labels.tolist()]
        index.add(labels, vectors, payloads)  # type: ignore[call-arg]

    def save_snapshot(self) -> None:
        """Write the index beside the store, atomically and checksummed.

        The new snapshot is written and fsynced in `index.tmp`; then `index` moves to
        `index.old`, `index.tmp` to `index`, and `index.old` goes. At every step one complete
        snapshot is on disk (see `_snapshot_candidates`), and a torn one fails its checksums.
        Only the writer mutex is held: saving reads the index, as searches do.
        """
        with self._lock:
            current = self.path / INDEX_DIR
            if not self._dirty and current.exists():
                return
            tmp, old = self.path / (INDEX_DIR + TMP_SUFFIX), self.path / (INDEX_DIR + OLD_SUFFIX)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            self.index.save(tmp)
            files = {}
            for file in sorted(tmp.iterdir()):
                _fsync_file(file)
                files[file.name] = _sha256(file)
            meta = {
                "config": self.config.describe(),
                "count": len(self.index),
                "insertion_order": self.insertion_order,
                "files": files,
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            _fsync_file(tmp / META_FILE)
            _fsync_file(tmp)
            if current.exists():
                shutil.rmtree(old, ignore_errors=True)
                current.rename(old)
            tmp.rename(current)
            _fsync_file(self.path)
            shutil.rmtree(old, ignore_errors=True)
            self._dirty = False

    # writes -----------------------------------------------------------------------------------
    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]],
    ) -> int:
        """Insert or replace points (the last occurrence of a repeated id wins).

        Upserting an id replaces the point of that id and every part of it (a photo's faces,
        see `PointStore.upsert`), in the store's transaction; the index drops them too.
        """
        last = {pid: i for i, pid in enumerate(ids)}
        keep = sorted(last.values())
        ids = [ids[i] for i in keep]
        vectors, payloads = vectors[keep], [payloads[i] for i in keep]
        prepared = self.metric.prepare(vectors)
        with self._lock:
            self._catch_up()
            removed, added = self.store.upsert(ids, vectors, payloads)  # searches go on
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

    def _catch_up(self) -> None:
        """Replay into the index what a failed index write left out (callers hold `_lock`, so
        the store holds no commit the view has not seen but those the replay brings in)."""
        if self._pending:
            with self._rw.write():
                self._reconcile(self.index)  # raises again while the index is still down
                self._pending = False

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

    @contextmanager
    def _payload_index_follows(self) -> Iterator[None]:
        """Payload index writes after a store commit. If one fails midway, the payload index is
        dropped and SQLite answers every filter until the next open rebuilds it: slower, never
        wrong. The write itself committed, so it goes on to the ANN index."""
        try:
            yield
        except Exception as exc:
            self._payload_index = None
            log.warning(
                "collection %r: payload index dropped until restart (%s: %s)",
                self.config.name,
                type(exc).__name__,
                exc,
            )
        except BaseException:
            self._payload_index, self._pending = None, True  # the ANN index may lag: reconcile
            raise

    # payload indexes --------------------------------------------------------------------------
    @property
    def payload_indexes(self) -> dict[str, str]:
        """Declared payload indexes: dotted key -> type."""
        return dict(self._declared)

    def create_payload_index(self, key: str, schema: str) -> None:
        """Declare (or re-type) an in-memory index on a payload field, indexing every point.

        The schema is written first: should indexing fail, the field is declared but unindexed,
        and filters on it go to SQLite, which answers the same.
        """
        check_payload_field(key, schema)
        with self._lock:
            indexed = {} if self._payload_index is None else self._payload_index.fields
            if self._declared.get(key) == schema == indexed.get(key):
                return  # declared and indexed already
            self._write_declared({**self._declared, key: schema})
            labels, values = self._field_values(key)  # stable: no write lands under `_lock`
            if self._payload_index is None:  # built aside, so searches go on meanwhile
                index = PayloadIndex()
                index.add_field(key, schema, labels, values)
                with self._rw.write():
                    self._payload_index = index
                return
            with self._rw.write():
                self._payload_index.add_field(key, schema, labels, values)

    def drop_payload_index(self, key: str) -> None:
        """Forget a declared payload index (PayloadIndexNotFound when there is none)."""
        with self._lock:
            if key not in self._declared:
                raise PayloadIndexNotFound(
                    f"collection {self.config.name!r} has no payload index on {key!r}",
                    "field_name",
                )
            with self._rw.write():
                if self._payload_index is not None:
                    self._payload_index.drop_field(key)
                    if not self._payload_index.fields:
                        self._payload_index = None
            self._write_declared({k: t for k, t in self._declared.items() if k != key})

    def _write_declared(self, declared: dict[str, str]) -> None:
        self.store.write_config({PAYLOAD_INDEXES_KEY: declared})
        self._declared = declared

    def _load_payload_index(self) -> PayloadIndex | None:
        """The declared fields indexed from the stored payloads, in one pass (None: none)."""
        if not self._declared:
            return None
        index = PayloadIndex(self._declared)
        for labels, payloads in self.store.iter_payloads():
            index.add(labels, payloads)
        return index

    def _field_values(self, key: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Every point's label with its payload cut down to `key`, so memory stays small."""
        parts, all_labels, values = key.split("."), [], []
        for labels, payloads in self.store.iter_payloads():
            all_labels.append(labels)
            values += [_project(payload, parts) for payload in payloads]
        labels = np.concatenate(all_labels) if all_labels else np.empty(0, np.int64)
        return labels, values

    def _matching(self, flt: Filter) -> np.ndarray:
        """Labels whose payload satisfies `flt`: from the payload index when it answers every
        condition, else from SQLite (the same labels either way)."""
        index = self._payload_index
        if index is not None and index.covers(flt):
            return index.matching(flt, self._live_labels())
        return self.store.labels_matching(*compile_filter(flt))

    def _live_labels(self) -> np.ndarray:
        """Sorted labels of the stored points, cached until the next write changes them."""
        if self._live is None:
            live = np.fromiter(self._ids, np.int64, len(self._ids))
            live.sort()
            live.setflags(write=False)
            self._live = live
        return self._live

    def rebuild(self, order: str | None = None, seed: int = 0) -> None:
        """Rebuild the index from the store, inserting in insertion-order strategy `order`.

        None keeps label (first-write) order; names are those of `index.analysis`.
        """
        with self._lock:
            labels, vectors = _concat(self.store.iter_vectors(), self.config.dim)
            vectors = self.metric.prepare(vectors)
            if order is not None and len(labels):  # an empty index has nothing to order
                perm = insertion_order(order, vectors, seed=seed)
                labels, vectors = labels[perm], vectors[perm]
            index = self.backend(self.config.dim, self.metric, self.params)
            for start in range(0, len(labels), REBUILD_BATCH):  # searches use the old index
                stop = start + REBUILD_BATCH
                self.add_to_index(index, labels[start:stop], vectors[start:stop])
            with self._rw.write():
                self.index, self.insertion_order = index, order
                self._dirty, self._pending = True, False  # built from the store: no replay

    def train(self) -> None:
        """Train the index now if it is a trained kind (IVF); others need nothing."""
        with self._lock, self._rw.write():  # trains in place: searches wait
            train = getattr(self.index, "train", None)
            if train is not None:
                train()
                self._dirty = True

    # reads ------------------------------------------------------------------------------------
    def count(self, filter: dict[str, Any] | None = None) -> int:
        """Number of points, or of points matching a filter."""
        flt = parse_filter(filter)
        with self._rw.read():
            if flt is None:
                return self.store.count()
            return len(self._matches_of(flt).labels)

    def get(self, ids: Sequence[str], with_vector: bool = False) -> list[StoredPoint]:
        """Stored points for ids, in the order asked; unknown ids are skipped."""
        with self._rw.read():
            return self.store.by_ids(ids, with_vector)

    def page(self, after: str | None, limit: int, with_vector: bool = False) -> list[StoredPoint]:
        """Points ordered by id after the cursor `after`."""
        with self._rw.read():
            return self.store.page(after, limit, with_vector)

    def vector_of(self, point_id: str, field_name: str = "query.id") -> StoredPoint:
        """The stored point `point_id` with its vector, or PointNotFound."""
        found = self.get([point_id], with_vector=True)
        if not found:
            raise PointNotFound(
                f"no point with id {point_id!r} in {self.config.name!r}", field_name
            )
        return found[0]

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
        """
        spec = None if funnel is None else FunnelSpec.parse(funnel, self.config.dim)
        knobs = self._knobs(params)
        prepared = self.metric.prepare(queries)
        flt = parse_filter(filter)
        skips = [set(e) for e in exclude] if exclude else [_NO_SKIP] * len(queries)
        fetch = k + max(map(len, skips), default=0)
        if self._pending:  # as a writer first: the index must hold every committed point
            with self._lock:
                self._catch_up()
        if spec is not None and self._funnel is None:
            with self._lock:
                self._build_funnel()
        wants_table = flt is not None or knobs[0].rescore
        if wants_table and self._table is None and not self._native_filter:
            with self._lock:
                self._build_table()
        with self._rw.read():
            matches = None if flt is None or self._native_filter else self._matches_of(flt)
            allowed = None if matches is None else matches.labels
            scope = {"filter": flt} if self._native_filter and flt is not None else {}
            share = 0.0 if allowed is None else len(allowed) / max(len(self._ids), 1)
            if spec is not None:
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
                labels, scores = self._exact(prepared, fetch, matches)
            elif matches is not None and not knobs[0].rescore and share >= POST_FILTER_SHARE:
                labels, scores = self._post_filtered(prepared, fetch, matches, knobs[1])
            elif knobs[0].rescore:
                shortlist, _ = self.index.search(
                    prepared,
                    max(fetch * RESCORE_OVERSAMPLE, RESCORE_MIN),
                    allowed=allowed,
                    **scope,
                    **knobs[1],
                )
                labels, scores = self._rescore(prepared, shortlist, fetch)
            else:
                labels, scores = self.index.search(
                    prepared, fetch, allowed=allowed, **scope, **knobs[1]
                )
            rows = zip(labels, scores, skips, strict=True)
            return [self._hits(ls, ss, k, skip, with_payload, with_vector) for ls, ss, skip in rows]

    def reads_in_memory(
        self, filter: dict[str, Any] | None = None, funnel: dict[str, Any] | None = None
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
        if funnel is not None:  # its tiers and graph must be built; a flat tier scans them all
            spec = FunnelSpec.parse(funnel, self.config.dim)
            if self._funnel is None or not self._funnel.ready(spec, filtered=flt is not None):
                return False
        if flt is None:
            return True
        index = self._payload_index
        return self._table is not None and index is not None and index.covers(flt)

    def _post_filtered(
        self, queries: np.ndarray, k: int, matches: _Matches, knobs: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """A wide filter: the allowed hits among an unfiltered, oversampled ANN search."""
        allowed = matches.labels
        share = len(allowed) / max(len(self._ids), 1)
        wide = min(len(self._ids), int(np.ceil(POST_FILTER_OVERSAMPLE * k / share)))
        found, found_scores = self.index.search(queries, wide, **knobs)
        keep = matches.contains(found)
        labels = np.full((len(queries), k), -1, np.int64)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        short = []
        for row in range(len(queries)):
            row_labels = found[row][keep[row]][:k]
            labels[row, : len(row_labels)] = row_labels
            scores[row, : len(row_labels)] = found_scores[row][keep[row]][:k]
            if len(row_labels) < min(k, len(allowed)):
                short.append(row)
        if short:  # the nearest points were mostly filtered out: steer the search instead
            again, again_scores = self.index.search(queries[short], k, allowed=allowed, **knobs)
            labels[short], scores[short] = -1, -np.inf
            labels[short, : again.shape[1]] = again
            scores[short, : again.shape[1]] = again_scores
        return labels, scores

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

    def _prepared_vectors(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels in the view, their prepared vectors): from memory once the table is built."""
        if self._table is not None:
            return self._table.get(labels)
        stored, vectors = _concat(self.store.iter_vectors(labels.tolist()), self.config.dim)
        # a point committed but not yet in the view is not an answer yet (see the class docs)
        seen = np.fromiter((x in self._ids for x in stored.tolist()), bool, len(stored))
        return stored[seen], self.metric.prepare(vectors[seen])

    def _funnel_search(self) -> FunnelSearch:
        """The in-memory funnel (search builds it first, under `_lock`)."""
        assert self._funnel is not None
        return self._funnel

    def _matches_of(self, flt: Filter) -> _Matches:
        """The labels `flt` keeps, cached (with what searches derive from them) until the next
        write: a repeated filter (a tenant, a category) is evaluated once, not per query."""
        key = repr(flt)
        found = self._matches.get(key)
        if found is None:
            found = _Matches(self._matching(flt))
            if len(self._matches) >= MATCHES_CACHED:
                self._matches.pop(next(iter(self._matches)), None)  # the oldest
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

    def _exact(
        self, queries: np.ndarray, k: int, matches: _Matches
    ) -> tuple[np.ndarray, np.ndarray]:
        stored_labels, vectors = matches.vectors(self._prepared_vectors)
        scores = self.metric.scores(queries, vectors)
        if k < scores.shape[1]:  # the k best of each row, then only those sorted
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(scores, part, axis=1)
            order = np.take_along_axis(part, np.argsort(-top, axis=1, kind="stable"), axis=1)
        else:
            order = np.argsort(-scores, axis=1, kind="stable")
        return stored_labels[order], np.take_along_axis(scores, order, axis=1)

    def _rescore(
        self, queries: np.ndarray, shortlist: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Re-rank each query's shortlist with exact scores from the stored vectors."""
        candidates = np.unique(shortlist[shortlist >= 0])
        stored, vectors = self._prepared_vectors(candidates)
        column = {int(label): i for i, label in enumerate(stored)}
        exact = self.metric.scores(queries, vectors)
        labels = np.full((len(queries), k), -1, np.int64)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        for row, found in enumerate(shortlist):
            keep = [int(x) for x in found if int(x) in column]
            row_scores = exact[row, [column[x] for x in keep]]
            order = np.argsort(-row_scores, kind="stable")[:k]
            labels[row, : len(order)] = np.asarray(keep, np.int64)[order]
            scores[row, : len(order)] = row_scores[order]
        return labels, scores

    def _hits(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        k: int,
        exclude: set[str],
        with_payload: bool,
        with_vector: bool,
    ) -> list[Hit]:
        found = [
            (label, float(score))
            for label, score in zip(labels.tolist(), scores.tolist(), strict=True)
            if label in self._ids and self._ids[label] not in exclude
        ][:k]
        if not (with_payload or with_vector):
            return [Hit(self._ids[label], score) for label, score in found]
        stored = {p.label: p for p in self.store.by_labels([x for x, _ in found], with_vector)}
        return [  # a row just replaced or deleted (committed, view not yet updated) is skipped
            Hit(
                stored[label].id,
                score,
                stored[label].payload if with_payload else None,
                stored[label].vector,
            )
            for label, score in found
            if label in stored
        ]


def _plain(value: Any) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def check_payload_field(
    key: Any, schema: Any, where: tuple[str, str] = ("field_name", "field_schema")
) -> None:
    """A payload index must name a key a filter can use and one of the indexable types;
    `where` names the request fields of the key and of the type."""
    if not isinstance(key, str) or not key or '"' in key or not _is_utf8(key):
        raise InvalidCollectionConfig(
            "a payload index field must be a non-empty dotted key in valid unicode, without "
            "a double quote",
            where[0],
        )
    if schema not in FIELD_TYPES:
        raise InvalidCollectionConfig(
            f"payload index type must be one of {', '.join(FIELD_TYPES)}, got {schema!r}",
            where[1],
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate could never be a filter's key
        return False
    return True


def _project(payload: Any, parts: list[str]) -> dict[str, Any]:
    """The payload cut down to the value at a dotted path: {} when it is absent."""
    value = payload
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return {}
        value = value[part]
    for part in reversed(parts):
        value = {part: value}
    return value


class SnapshotDamaged(Exception):
    """An index snapshot that cannot be trusted (missing file, bad checksum, bad index.json)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes its renames durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _concat(batches: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = list(batches)
    if not pairs:
        return np.empty(0, np.int64), np.empty((0, dim), np.float32)
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


class _Matches:
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

    def contains(self, found: np.ndarray) -> np.ndarray:
        """Which of `found` (labels, -1 padded) the filter keeps."""
        bitmap = self._bitmap
        if bitmap is None:
            bitmap = np.zeros(int(self.labels[-1]) + 1 if len(self.labels) else 0, bool)
            bitmap[self.labels] = True
            self._bitmap = bitmap
        inside = (found >= 0) & (found < len(bitmap))
        out = np.zeros(found.shape, bool)
        out[inside] = bitmap[found[inside]]
        return out

    def vectors(
        self, load: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, prepared vectors) of the matches, from `load`; kept when small."""
        if self._vectors is not None:
            return self._vectors
        loaded = load(self.labels)
        if loaded[1].size <= EXACT_SCAN_FLOATS:
            self._vectors = loaded
        return loaded

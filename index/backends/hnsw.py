"""hnswlib backend: an HNSW graph whose deleted points stay as tombstones (still walked) until
half the graph is deleted, when it is rebuilt from the live vectors."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
from pydantic import Field

from index.backends.common import check_hnsw_file
from index.base import IndexParams, QueryParams, VectorIndex
from index.metrics import Metric, l2_score
from index.plans import exact_top_k
from index.registry import register_index

INITIAL_CAPACITY = 1024
# Deleted slots are not reused: hnswlib's replace_deleted relinks a reused slot poorly, and 19% of
# 300 points moved far from their old place were never found again (ef 400, 2,000 points).
# Tombstones keep the graph navigable; past this share of it the graph is rebuilt.
MAX_TOMBSTONE_SHARE = 0.5
EXACT_CHUNK = 16384  # stored vectors per step of the exact fallback scan
# hnsw.json's `format`: 2 since graphs keep tombstones. A graph saved before (no `format`) may
# have lost points to slot reuse for good, so it is rebuilt from the store once, not loaded.
SNAPSHOT_FORMAT = 2


class HnswGraphParams(IndexParams):
    """Parameters every HNSW implementation shares (hnswlib and faiss)."""

    M: int = Field(16, ge=2, le=256, description="graph degree")
    ef_construction: int = Field(200, ge=1, le=4096, description="build-time beam width")
    ef: int = Field(64, ge=1, le=32768, description="default query beam width")


class HnswParams(HnswGraphParams):
    seed: int = Field(100, ge=0, description="random seed of level assignment")


class HnswQuery(QueryParams):
    ef: int | None = Field(None, ge=1, le=32768, description="query beam width (>= k is used)")


class _EfGate:
    """hnswlib keeps ef on the index (`set_ef`), not per query. Searches with the ef in force
    run together; one with another ef waits until they finish, then sets its own. Arrivals
    with the current ef queue behind a waiter with another one, so neither side starves."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._ef: int | None = None
        self._active = 0
        self._waiting = 0

    def enter(self, index: hnswlib.Index, ef: int) -> None:
        """Wait until a search with `ef` may run, then count it in (pair with `leave`)."""
        with self._cond:
            self._waiting += 1
            try:
                while self._active and (self._ef != ef or self._waiting > 1):
                    self._cond.wait()
            finally:
                self._waiting -= 1
            if self._ef != ef:  # no search is running here: the change is safe
                index.set_ef(ef)
                self._ef = ef
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            if not self._active and self._waiting:  # notify_all costs even with no waiter
                self._cond.notify_all()


@register_index("hnsw")
class HnswIndex(VectorIndex):
    """hnswlib index. Deleted labels are marked (tombstones), their slots never reused."""

    Params = HnswParams
    scans_all = False
    Query = HnswQuery

    def __init__(self, dim: int, metric: Metric, params: HnswParams) -> None:
        self.dim, self.metric, self.params = dim, metric, params
        self._index = self._new_graph(INITIAL_CAPACITY)
        self._live: set[int] = set()
        self._ef_gate = _EfGate()

    def _new_graph(self, capacity: int) -> hnswlib.Index:
        graph = hnswlib.Index(space=self.metric.kind, dim=self.dim)
        graph.init_index(
            max_elements=capacity,
            ef_construction=self.params.ef_construction,
            M=self.params.M,
            random_seed=self.params.seed,
        )
        return graph

    def __len__(self) -> int:
        return len(self._live)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if len(labels) == 0:
            return
        needed = self._index.get_current_count() + len(labels)
        capacity = self._index.get_max_elements()
        if needed > capacity:
            self._index.resize_index(max(needed, 2 * capacity))
        self._index.add_items(vectors, labels)
        self._live.update(int(x) for x in labels)

    def remove(self, labels: np.ndarray) -> None:
        for label in (int(x) for x in labels):
            if label in self._live:
                self._index.mark_deleted(label)
                self._live.discard(label)
        if self.tombstone_ratio > MAX_TOMBSTONE_SHARE:
            self._compact()

    def _compact(self) -> None:
        """The graph rebuilt from the live vectors (callers hold the collection's write lock:
        no search runs meanwhile)."""
        live = self.labels()
        graph = self._new_graph(max(len(live), INITIAL_CAPACITY))
        for start in range(0, len(live), EXACT_CHUNK):
            chunk = live[start : start + EXACT_CHUNK]
            graph.add_items(np.asarray(self._index.get_items(chunk, return_type="numpy")), chunk)
        self._index, self._ef_gate = graph, _EfGate()  # the new graph has no ef set yet

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, **params: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        ef = params.get("ef") or self.params.ef
        live = len(self)
        k = min(k, live) if allowed is None else min(k, len(allowed), live)
        if k == 0:
            return np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32)
        allowed_set = None if allowed is None else set(allowed.tolist())
        accept = None if allowed_set is None else allowed_set.__contains__
        try:
            labels, distances = self._knn(queries, k, max(ef, k), accept)
        except RuntimeError:
            # Too few reachable matches for k at this ef (tiny or heavily filtered graph):
            # widen the beam to the whole index.
            try:
                labels, distances = self._knn(queries, k, max(len(self), k), accept)
            except RuntimeError:
                # Still short: tombstones can cut live points off the graph walk, so k close to
                # the live count cannot be met by the graph. Score the candidates exactly.
                return self._exact(queries, k, allowed_set)
        return labels.astype(np.int64), self._scores(distances)

    def _exact(
        self, queries: np.ndarray, k: int, allowed: set[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores) of every live (and allowed) point scored exactly, a chunk of stored
        vectors at a time (a copy of the whole index would double its memory)."""
        live = self.labels() if allowed is None else np.fromiter(allowed & self._live, np.int64)
        none = (np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32))
        parts = [none]  # no live candidate at all: an empty answer
        for start in range(0, len(live), EXACT_CHUNK):
            chunk = live[start : start + EXACT_CHUNK]
            vectors = np.asarray(self._index.get_items(chunk, return_type="numpy"), np.float32)
            parts.append(exact_top_k(self.metric, queries, k, chunk, vectors))
        labels = np.hstack([p[0] for p in parts])
        scores = np.hstack([p[1] for p in parts]).astype(np.float32)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(labels, best, axis=1), np.take_along_axis(scores, best, axis=1)

    def _knn(
        self, queries: np.ndarray, k: int, ef: int, accept: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        # enter/leave, not a context manager: a generator's cost is a tenth of a small search
        self._ef_gate.enter(self._index, ef)
        try:
            return self._index.knn_query(queries, k=k, filter=accept)
        finally:
            self._ef_gate.leave()

    def _scores(self, distances: np.ndarray) -> np.ndarray:
        if self.metric.kind == "ip":
            # hnswlib "ip" distance is 1 - <q, x>; float32 stays float32 (no second copy)
            return (1.0 - distances).astype(np.float32, copy=False)
        return l2_score(distances).astype(np.float32, copy=False)

    @property
    def tombstone_ratio(self) -> float:
        slots = self._index.get_current_count()
        return (slots - len(self._live)) / slots if slots else 0.0

    def labels(self) -> np.ndarray:
        return np.fromiter(self._live, dtype=np.int64, count=len(self._live))

    def save(self, path: Path) -> None:
        self._index.save_index(str(path / "hnsw.bin"))
        check_hnsw_file(path / "hnsw.bin")
        np.save(path / "live_labels.npy", self.labels())
        meta = {"max_elements": self._index.get_max_elements(), "format": SNAPSHOT_FORMAT}
        (path / "hnsw.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path, dim: int, metric: Metric, params: HnswParams) -> HnswIndex:
        self = cls.__new__(cls)
        self.dim, self.metric, self.params = dim, metric, params
        meta = json.loads((path / "hnsw.json").read_text())
        if meta.get("format", 1) < SNAPSHOT_FORMAT:
            raise StaleGraph("saved by a nestvec that reused deleted slots; rebuilt once")
        capacity = meta["max_elements"]
        self._index = hnswlib.Index(space=metric.kind, dim=dim)
        self._index.load_index(str(path / "hnsw.bin"), max_elements=capacity)
        self._live = set(np.load(path / "live_labels.npy").tolist())
        self._ef_gate = _EfGate()
        return self


class StaleGraph(Exception):
    """A graph saved in an older format, which the store rebuilds rather than serves."""

"""faiss IndexHNSWFlat: HNSW graph from faiss. The graph cannot unlink nodes, so deletes are
tombstones filtered out at search time and the graph is rebuilt once they pass a ratio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from pydantic import Field

from index.backends.common import (
    LiveLabels,
    empty_result,
    faiss_metric,
    faiss_scores,
    faiss_threads_for,
    sorted_labels,
    widened,
    write_faiss_index,
)
from index.backends.hnsw import HnswGraphParams, HnswQuery
from index.base import VectorIndex
from index.metrics import Metric
from index.registry import register_index
from index.sorted_labels import contains, sorted_array


class FaissHnswParams(HnswGraphParams):
    max_tombstone_ratio: float = Field(
        0.2, gt=0, le=1, description="rebuild the graph once this share of it is deleted"
    )


@register_index("faiss-hnsw")
class FaissHnswIndex(VectorIndex):
    Params = FaissHnswParams
    scans_all = False
    Query = HnswQuery

    def __init__(self, dim: int, metric: Metric, params: FaissHnswParams) -> None:
        self.dim, self.metric, self.params = dim, metric, params
        self._index = self._new_index()
        self._live = LiveLabels()
        self._tombstones: set[int] = set()
        self._dead: np.ndarray | None = None  # the tombstones sorted, made by the next search

    def _new_index(self) -> Any:
        inner = faiss.IndexHNSWFlat(self.dim, self.params.M, faiss_metric(self.metric))
        inner.hnsw.efConstruction = self.params.ef_construction
        return faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        return len(self._live)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if len(labels):
            self._index.add_with_ids(vectors, np.asarray(labels, dtype=np.int64))
            self._live.add(labels)

    def remove(self, labels: np.ndarray) -> None:
        self._tombstones.update(self._live.discard(np.asarray(labels)).tolist())
        self._dead = None
        if len(self._tombstones) > self.params.max_tombstone_ratio * max(self._index.ntotal, 1):
            self._compact()

    def _compact(self) -> None:
        """Rebuild the graph from the live vectors (faiss HNSW keeps them), dropping tombstones."""
        labels = self._live.array()
        vectors = self._index.reconstruct_batch(labels) if len(labels) else None
        self._index = self._new_index()
        self._tombstones.clear()
        self._dead = None
        if vectors is not None:
            self._index.add_with_ids(vectors, labels)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, **params: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k == 0:
            return empty_result(len(queries))
        ef = widened(max(params.get("ef") or self.params.ef, k), len(self), allowed, cap=4096)
        if allowed is None and not self._tombstones:
            distances, labels = self._search(queries, k, ef)
            return labels.astype(np.int64), faiss_scores(self.metric, distances)
        # Not a faiss selector: its beam keeps `ef` candidates, selected or not, so a query
        # whose neighbourhood is ruled out (a deleted cluster, a filter excluding it) never
        # leaves it and comes back short and wrong. The unselected beam's `ef` nearest are
        # filtered instead; a row without k kept in its nearer half asks again with 4x the beam.
        keep = sorted_labels(allowed) if allowed is not None else None
        want = min(k, len(self) if keep is None else len(keep))
        labels = np.full((len(queries), k), -1, np.int64)
        distances = np.zeros((len(queries), k), np.float32)
        rows = np.arange(len(queries))
        while len(rows):
            found_d, found = self._search(queries[rows], ef, ef)
            kept = found >= 0  # -1 pads: read as label 0 below, and not kept all the same
            listed = keep if keep is not None else self._sorted_dead()
            inside = contains(listed, np.maximum(found, 0).ravel()).reshape(found.shape)
            kept &= inside if keep is not None else ~inside
            first = np.argsort(~kept, axis=1, kind="stable")[:, :k]  # kept ones, nearest first
            labels[rows] = np.where(
                np.take_along_axis(kept, first, 1), found[np.arange(len(rows))[:, None], first], -1
            )
            distances[rows] = np.take_along_axis(found_d, first, 1)
            if ef >= self._index.ntotal:
                break
            # done where the k-th kept one lies in the beam's nearer half: its far end is where
            # an approximate beam misses most
            rows = rows[np.cumsum(kept, axis=1)[:, (ef - 1) // 2] < want]
            ef = min(ef * 4, self._index.ntotal)
        return labels, faiss_scores(self.metric, distances)

    def _sorted_dead(self) -> np.ndarray:
        # searches share the read lock, so two may make it at once: the same array either way
        if self._dead is None:
            self._dead = sorted_array(self._tombstones)
        return self._dead

    def _search(self, queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        with faiss_threads_for(len(queries)):
            return self._index.search(queries, k, params=faiss.SearchParametersHNSW(efSearch=ef))

    @property
    def tombstone_ratio(self) -> float:
        return len(self._tombstones) / self._index.ntotal if self._index.ntotal else 0.0

    def labels(self) -> np.ndarray:
        return self._live.array()

    def save(self, path: Path) -> None:
        write_faiss_index(self._index, path / "faiss.index")
        self._live.save(path)
        (path / "tombstones.json").write_text(json.dumps(sorted(self._tombstones)))

    @classmethod
    def load(cls, path: Path, dim: int, metric: Metric, params: FaissHnswParams) -> FaissHnswIndex:
        self = cls.__new__(cls)
        self.dim, self.metric, self.params = dim, metric, params
        self._index = faiss.read_index(str(path / "faiss.index"))
        self._live = LiveLabels.load(path)
        self._tombstones = set(json.loads((path / "tombstones.json").read_text()))
        self._dead = None
        return self

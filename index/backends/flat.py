"""Exact search with faiss IndexFlatIP / IndexFlatL2 behind an id map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.backends.common import faiss_threads_for, write_faiss_index
from index.base import IndexParams, QueryParams, VectorIndex
from index.metrics import Metric, l2_score
from index.registry import register_index


class FlatParams(IndexParams):
    pass


class FlatQuery(QueryParams):
    pass


@register_index("flat")
class FlatIndex(VectorIndex):
    """Brute-force exact search; deletes compact the storage (`remove_ids`)."""

    Params = FlatParams
    scans_all = True
    Query = FlatQuery

    def __init__(self, dim: int, metric: Metric, params: FlatParams) -> None:
        self.dim, self.metric, self.params = dim, metric, params
        inner = faiss.IndexFlatIP(dim) if metric.kind == "ip" else faiss.IndexFlatL2(dim)
        self._index = faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if len(labels):
            self._index.add_with_ids(vectors, np.asarray(labels, dtype=np.int64))

    def remove(self, labels: np.ndarray) -> None:
        if len(labels):
            self._index.remove_ids(np.asarray(labels, dtype=np.int64))

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, **params: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k == 0:
            return np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32)
        search_params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            search_params = faiss.SearchParameters(sel=selector)
        with faiss_threads_for(len(queries)):
            distances, labels = self._index.search(queries, k, params=search_params)
        scores = distances if self.metric.kind == "ip" else l2_score(distances)
        return labels.astype(np.int64), scores.astype(np.float32)

    tombstone_ratio = 0.0  # deletes compact the storage at once

    def labels(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def save(self, path: Path) -> None:
        write_faiss_index(self._index, path / "faiss.index")

    @classmethod
    def load(cls, path: Path, dim: int, metric: Metric, params: FlatParams) -> FlatIndex:
        self = cls.__new__(cls)
        self.dim, self.metric, self.params = dim, metric, params
        self._index = faiss.read_index(str(path / "faiss.index"))
        return self

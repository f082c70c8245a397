"""faiss inverted-file indexes: `ivf` (IndexIVFFlat) and `ivfpq` (IndexIVFPQ, product-quantised).

Until enough vectors exist to train the coarse quantiser (and PQ codebooks) they sit in an exact
flat index and searches are exact; the first add that reaches the training size trains on every
stored vector and moves them over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from index.backends.common import (
    LiveLabels,
    empty_result,
    faiss_metric,
    faiss_scores,
    faiss_threads_for,
    id_selector,
    widened,
    write_faiss_index,
)
from index.base import IndexParams, QueryParams, VectorIndex
from index.errors import NotEnoughPoints
from index.metrics import Metric
from index.registry import register_index

# faiss warns below 39 training points per centroid; clustering uses at most 256 per centroid.
MIN_POINTS_PER_CENTROID = 39
MAX_POINTS_PER_CENTROID = 256


class IvfParams(IndexParams):
    nlist: int = Field(128, ge=1, le=1 << 20, description="number of inverted lists")
    nprobe: int = Field(32, ge=1, description="default lists probed per query")


class IvfPqParams(IvfParams):
    m: int | None = Field(
        None, ge=1, description="sub-quantisers; must divide the dimension (default: dim/8)"
    )
    nbits: int = Field(8, ge=1, le=16, description="bits per sub-quantiser code")

    @model_validator(mode="after")
    def _m_fits_dim(self, info: ValidationInfo) -> IvfPqParams:
        dim = (info.context or {}).get("dim")
        if dim is None:
            return self
        if self.m is None:
            # 8 dimensions per code byte: 16 sub-quantisers on 384-d kept recall@10 near 0.36
            self.m = max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)
        elif dim % self.m:
            raise ValueError(f"m={self.m} must divide the dimension {dim}")
        return self


class IvfQuery(QueryParams):
    nprobe: int | None = Field(None, ge=1, description="lists probed for this query")


class IvfPqQuery(IvfQuery):
    rescore: bool = True  # PQ distances are approximate; re-rank with the stored vectors


class _IvfBase(VectorIndex):
    Params: ClassVar[type[IvfParams]]
    Query = IvfQuery
    scans_all = False  # only until trained (a small staging table)
    trains: ClassVar[bool] = True

    def __init__(self, dim: int, metric: Metric, params: Any) -> None:
        self.dim, self.metric, self.params = dim, metric, params
        self._staging: Any = faiss.IndexIDMap2(faiss.IndexFlat(dim, faiss_metric(metric)))
        self._ivf: Any = None
        self._live = LiveLabels()

    # subclasses say what to build and how much data it needs
    def _new_ivf(self) -> Any:
        raise NotImplementedError

    @property
    def centroids(self) -> int:
        """The largest k-means the training runs (coarse lists, or PQ codebooks)."""
        return int(self.params.nlist)

    @property
    def training_size(self) -> int:
        return MIN_POINTS_PER_CENTROID * self.centroids

    @property
    def is_trained(self) -> bool:
        return self._ivf is not None

    def __len__(self) -> int:
        return len(self._live)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if not len(labels):
            return
        target = self._ivf if self.is_trained else self._staging
        target.add_with_ids(vectors, np.asarray(labels, dtype=np.int64))
        self._live.add(labels)
        if not self.is_trained and len(self._live) >= self.training_size:
            self.train()

    def train(self) -> None:
        """Train on the stored vectors and move them into the IVF index."""
        if self.is_trained:
            return
        if len(self._live) < self.training_size:
            raise NotEnoughPoints(
                f"{type(self).name} with nlist={self.params.nlist} needs at least "
                f"{self.training_size} vectors to train; the collection has {len(self._live)}",
                "index.params",
            )
        labels = faiss.vector_to_array(self._staging.id_map).astype(np.int64)
        vectors = self._staging.index.reconstruct_n(0, self._staging.ntotal)
        ivf = self._new_ivf()
        sample = np.random.default_rng(0).permutation(len(vectors))
        ivf.train(vectors[sample[: MAX_POINTS_PER_CENTROID * self.centroids]])
        ivf.add_with_ids(vectors, labels)
        self._ivf = ivf
        self._staging.reset()

    def remove(self, labels: np.ndarray) -> None:
        present = self._live.discard(np.asarray(labels))
        if len(present):
            (self._ivf if self.is_trained else self._staging).remove_ids(present)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, **params: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k == 0:
            return empty_result(len(queries))
        selector = id_selector(allowed)
        if not self.is_trained:
            search_params = faiss.SearchParameters(sel=selector) if selector else None
            with faiss_threads_for(len(queries)):
                distances, labels = self._staging.search(queries, k, params=search_params)
            return labels.astype(np.int64), faiss_scores(self.metric, distances)
        nprobe = params.get("nprobe") or self.params.nprobe
        nprobe = widened(nprobe, len(self), allowed, cap=self.params.nlist)
        while True:
            search_params = faiss.SearchParametersIVF(nprobe=min(nprobe, self.params.nlist))
            if selector is not None:
                search_params.sel = selector
            with faiss_threads_for(len(queries)):
                distances, labels = self._ivf.search(queries, k, params=search_params)
            # The probed lists can hold fewer than k points (or k matches of a filter): probe
            # more lists; k=1000 over nprobe 32 of 128 lists answered 994 of 6,000 points
            if (labels >= 0).all() or nprobe >= self.params.nlist:
                return labels.astype(np.int64), faiss_scores(self.metric, distances)
            nprobe *= 2

    tombstone_ratio = 0.0  # deletes compact the storage at once

    def labels(self) -> np.ndarray:
        return self._live.array()

    def save(self, path: Path) -> None:
        active = self._ivf if self.is_trained else self._staging
        write_faiss_index(active, path / "faiss.index")
        self._live.save(path)
        (path / "ivf.json").write_text(json.dumps({"trained": self.is_trained}))

    @classmethod
    def load(cls, path: Path, dim: int, metric: Metric, params: Any) -> _IvfBase:
        self = cls(dim, metric, params)
        stored = faiss.read_index(str(path / "faiss.index"))
        if json.loads((path / "ivf.json").read_text())["trained"]:
            self._ivf = stored
        else:
            self._staging = stored
        self._live = LiveLabels.load(path)
        return self


@register_index("ivf")
class IvfFlatIndex(_IvfBase):
    """IndexIVFFlat: full vectors in inverted lists; deletes reclaim (`remove_ids`)."""

    Params = IvfParams

    def _new_ivf(self) -> Any:
        quantizer = faiss.IndexFlat(self.dim, faiss_metric(self.metric))
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, self.params.nlist, faiss_metric(self.metric))
        return ivf


@register_index("ivfpq")
class IvfPqIndex(_IvfBase):
    """IndexIVFPQ: m-byte codes per vector (nbits=8); pair with `rescore` for exact re-ranking."""

    Params = IvfPqParams
    Query = IvfPqQuery

    @property
    def centroids(self) -> int:
        return max(self.params.nlist, 1 << self.params.nbits)

    def _new_ivf(self) -> Any:
        quantizer = faiss.IndexFlat(self.dim, faiss_metric(self.metric))
        p, metric = self.params, faiss_metric(self.metric)
        return faiss.IndexIVFPQ(quantizer, self.dim, p.nlist, p.m, p.nbits, metric)

"""The Engine: settings, loaded encoders and open collections, and the operations routes call."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from encoders import Encoder, EncoderPool, InvalidDimension
from index import Catalog, Collection, CollectionConfig, Hit
from index.catalog import DataDirLock
from index.vectors import as_matrix
from service.batching import EncodeBatcher
from service.errors import LimitExceeded, NoEncoder
from service.observability import Metrics
from service.schemas import CreateCollectionRequest, PointIn, Query, SearchRequest
from service.settings import Settings


class Engine:
    """Built once per app by the factory and handed to routes as a dependency."""

    def __init__(
        self,
        settings: Settings,
        encoders: EncoderPool | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.encoders = encoders or EncoderPool()
        self._lock = DataDirLock(settings.data_dir)
        self.catalog = Catalog(settings.data_dir)
        self._batchers: dict[str, EncodeBatcher] = {}
        self._batchers_lock = threading.Lock()
        for name in settings.preload_encoders:
            self.batcher(name)

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()
        self.catalog.close()
        self._lock.release()

    def batcher(self, encoder_name: str) -> EncodeBatcher:
        """The dynamic batcher of an encoder (loading the encoder on first use)."""
        with self._batchers_lock:
            if encoder_name not in self._batchers:
                s = self.settings
                self._batchers[encoder_name] = EncodeBatcher(
                    self.encoders.get(encoder_name),
                    s.batch_max_size,
                    s.batch_max_wait_ms,
                    s.batch_max_queue,
                    self.metrics.batch_observer(encoder_name),
                )
            return self._batchers[encoder_name]

    # limits -----------------------------------------------------------------------------------
    def check_batch(self, n: int, field: str) -> None:
        if n > self.settings.max_batch:
            raise LimitExceeded(f"at most {self.settings.max_batch} items per request", field)

    def check_k(self, k: int, field: str = "k") -> None:
        if k > self.settings.max_k:
            raise LimitExceeded(f"k must be at most {self.settings.max_k}", field)

    # embeddings -------------------------------------------------------------------------------
    def embed(
        self, encoder_name: str, inputs: Sequence[Any], dim: int | None
    ) -> tuple[Encoder, np.ndarray]:
        self.check_batch(len(inputs), "inputs")
        batcher = self.batcher(encoder_name)
        return batcher.encoder, batcher.encode(inputs, dim)

    # collections ------------------------------------------------------------------------------
    def create_collection(self, req: CreateCollectionRequest) -> Collection:
        dim = req.dim
        if req.encoder is not None:
            encoder = self.encoders.get(req.encoder)
            dim = encoder.check_dim(dim)  # type: ignore[attr-defined]
        elif dim is None:
            raise InvalidDimension("a collection without an encoder needs 'dim'", "dim")
        config = CollectionConfig(
            name=req.name,
            dim=dim,
            metric=req.metric,
            encoder=req.encoder,
            index_type=req.index.type,
            index_params=req.index.params,
        )
        return self.catalog.create(config)

    def describe(self, collection: Collection) -> dict[str, Any]:
        return {
            **collection.config.describe(),
            "count": collection.count(),
            "tombstone_ratio": collection.index.tombstone_ratio,
        }

    def describe_all(self) -> list[dict[str, Any]]:
        return [self.describe(self.catalog.get(name)) for name in self.catalog.names()]

    # points -----------------------------------------------------------------------------------
    def upsert(self, name: str, points: Sequence[PointIn]) -> int:
        """Encode text points, validate vector points, then write all of them or none."""
        self.check_batch(len(points), "points")
        collection = self.catalog.get(name)
        vectors = self._vectors(collection, points, [f"points[{i}]" for i in range(len(points))])
        ids = [str(p.id) for p in points]
        return collection.upsert(ids, vectors, [p.payload for p in points])

    def delete(self, name: str, ids: Sequence[str], filter: dict[str, Any] | None) -> int:
        """Delete by ids and/or by payload filter; returns how many points went."""
        self.check_batch(len(ids), "ids")
        collection = self.catalog.get(name)
        deleted = collection.delete(ids) if ids else 0
        return deleted + (collection.delete_where(filter) if filter is not None else 0)

    def _vectors(
        self, collection: Collection, items: Sequence[PointIn | Query], fields: Sequence[str]
    ) -> np.ndarray:
        """One vector per item: texts encoded in one batch, raw vectors validated.

        Items with neither (queries by stored id) are left zero for the caller to fill.
        """
        dim = collection.config.dim
        vectors = np.zeros((len(items), dim), np.float32)
        text_at = [i for i, item in enumerate(items) if item.text is not None]
        vector_at = [i for i, item in enumerate(items) if item.vector is not None]
        if text_at:
            batcher = self._batcher_of(collection, f"{fields[text_at[0]]}.text")
            vectors[text_at] = batcher.encode([items[i].text for i in text_at], dim)
        if vector_at:
            rows = [items[i].vector or [] for i in vector_at]
            vectors[vector_at] = as_matrix(rows, dim, [f"{fields[i]}.vector" for i in vector_at])
        return vectors

    def _batcher_of(self, collection: Collection, field: str) -> EncodeBatcher:
        if collection.config.encoder is None:
            raise NoEncoder(
                f"collection {collection.config.name!r} has no encoder; send vectors", field
            )
        return self.batcher(collection.config.encoder)

    # search -----------------------------------------------------------------------------------
    def search(
        self, name: str, requests: Sequence[SearchRequest], fields: Sequence[str]
    ) -> list[list[Hit]]:
        """Answer searches by text, vector or stored id (that point itself excluded).

        Requests that share filter, params and flags go to the index in one call.
        """
        self.check_batch(len(requests), "searches")
        for request, field in zip(requests, fields, strict=True):
            self.check_k(request.k, field.removesuffix("query") + "k")
        collection = self.catalog.get(name)
        queries = [r.query for r in requests]
        vectors = self._vectors(collection, queries, fields)
        exclude: list[list[str]] = [[] for _ in requests]
        for i, query in enumerate(queries):
            if query.id is not None:
                stored = collection.vector_of(str(query.id), f"{fields[i]}.id")
                vectors[i], exclude[i] = stored.vector, [stored.id]
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            flags = [r.filter, r.params, r.with_payload, r.with_vector]
            key = json.dumps(flags, sort_keys=True, default=str)
            groups[key].append(i)
        results: list[list[Hit]] = [[] for _ in requests]
        for members in groups.values():
            first = requests[members[0]]
            hits = collection.search(
                vectors[members],
                max(requests[i].k for i in members),
                filter=first.filter,
                params=first.params,
                exclude=[exclude[i] for i in members],
                with_payload=first.with_payload,
                with_vector=first.with_vector,
            )
            for i, found in zip(members, hits, strict=True):
                results[i] = found[: requests[i].k]
        return results

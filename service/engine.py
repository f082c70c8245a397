"""The Engine: settings, loaded encoders and open collections, and the operations routes call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from encoders import Encoder, EncoderPool, InvalidDimension
from index import Catalog, Collection, CollectionConfig, Hit
from index.vectors import as_matrix
from service.errors import LimitExceeded, NoEncoder
from service.schemas import CreateCollectionRequest, PointIn, Query
from service.settings import Settings


class Engine:
    """Built once per app by the factory and handed to routes as a dependency."""

    def __init__(self, settings: Settings, encoders: EncoderPool | None = None) -> None:
        self.settings = settings
        self.encoders = encoders or EncoderPool()
        self.catalog = Catalog(settings.data_dir)
        for name in settings.preload_encoders:
            self.encoders.get(name)

    def close(self) -> None:
        self.catalog.close()

    # limits -----------------------------------------------------------------------------------
    def check_batch(self, n: int, field: str) -> None:
        if n > self.settings.max_batch:
            raise LimitExceeded(f"at most {self.settings.max_batch} items per request", field)

    def check_k(self, k: int) -> None:
        if k > self.settings.max_k:
            raise LimitExceeded(f"k must be at most {self.settings.max_k}", "k")

    # embeddings -------------------------------------------------------------------------------
    def embed(
        self, encoder_name: str, inputs: Sequence[Any], dim: int | None
    ) -> tuple[Encoder, np.ndarray]:
        self.check_batch(len(inputs), "inputs")
        encoder = self.encoders.get(encoder_name)
        return encoder, encoder.encode(inputs, dim=dim)

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
        return {**collection.config.describe(), "count": collection.count()}

    # points -----------------------------------------------------------------------------------
    def upsert(self, name: str, points: Sequence[PointIn]) -> int:
        """Encode text points, validate vector points, then write all of them or none."""
        self.check_batch(len(points), "points")
        collection = self.catalog.get(name)
        dim = collection.config.dim
        vectors = np.empty((len(points), dim), np.float32)
        text_at = [i for i, p in enumerate(points) if p.text is not None]
        vector_at = [i for i, p in enumerate(points) if p.vector is not None]
        if text_at:
            encoder = self._encoder_of(collection, f"points[{text_at[0]}].text")
            texts = [points[i].text for i in text_at]
            vectors[text_at] = encoder.encode(texts, dim=dim)
        if vector_at:
            rows = [points[i].vector or [] for i in vector_at]
            fields = [f"points[{i}].vector" for i in vector_at]
            vectors[vector_at] = as_matrix(rows, dim, fields)
        ids = [str(p.id) for p in points]
        return collection.upsert(ids, vectors, [p.payload for p in points])

    def _encoder_of(self, collection: Collection, field: str) -> Encoder:
        if collection.config.encoder is None:
            raise NoEncoder(
                f"collection {collection.config.name!r} has no encoder; send vectors", field
            )
        return self.encoders.get(collection.config.encoder)

    # search -----------------------------------------------------------------------------------
    def search(
        self,
        name: str,
        query: Query,
        k: int,
        filter: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        with_vector: bool = False,
    ) -> list[Hit]:
        """Search by text (encoded), raw vector, or a stored point's vector (itself excluded)."""
        self.check_k(k)
        collection = self.catalog.get(name)
        exclude: list[list[str]] = [[]]
        if query.text is not None:
            encoder = self._encoder_of(collection, "query.text")
            vector = encoder.encode([query.text], dim=collection.config.dim)
        elif query.vector is not None:
            vector = as_matrix([query.vector], collection.config.dim, ["query.vector"])
        else:
            stored = collection.vector_of(str(query.id))
            vector, exclude = stored.vector[None, :], [[stored.id]]  # type: ignore[index]
        return collection.search(
            vector, k, filter=filter, params=params, exclude=exclude, with_vector=with_vector
        )[0]

"""The Engine: settings, loaded encoders and open collections, and the operations routes call."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from diagnostics.plots import drop_plots
from encoders import EncoderPool, InvalidDimension, InvalidInput, encoder_class
from encoders.base import PartEncoder
from index import Catalog, Collection, CollectionConfig, Hit
from index.backends.milvus import check_milvus_uri
from index.catalog import DataDirLock
from index.errors import CollectionDeleted, CollectionNotFound, InvalidPayload, InvalidPointId
from index.filters import parse_filter
from index.funnel_spec import FunnelSpec, check_nested
from index.payload_fields import check_payload_field
from index.stored_point import check_points
from index.vectors import as_matrix
from service.embedding import Embedding, check_options
from service.errors import LimitExceeded, NoEncoder, fields_renamed
from service.observability import Metrics
from service.parts import expand_parts
from service.schemas.collections import CreateCollectionRequest
from service.schemas.points import PointIn
from service.schemas.search import Query, SearchRequest
from service.settings import Settings

log = logging.getLogger(__name__)


class Engine(Embedding):
    """Built once per app by the factory and handed to routes as a dependency.

    The embedding side (encoders, batchers, embed calls) is `service.embedding.Embedding`."""

    def __init__(
        self,
        settings: Settings,
        encoders: EncoderPool | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(settings, encoders, metrics)
        self._lock = DataDirLock(settings.data_dir)
        self.catalog = Catalog(settings.data_dir, settings.index_defaults)
        self.catalog.remove_leftovers()  # safe only under the lock: no other writer is mid-way
        self.preload()

    def close(self) -> None:
        self.close_batchers()
        self.catalog.close()
        self._lock.release()

    # limits -----------------------------------------------------------------------------------
    def check_k(self, k: int, field: str = "k", what: str = "k") -> None:
        if k > self.settings.max_k:
            cap = f"{what} must be at most {self.settings.max_k}"
            raise LimitExceeded(f"{cap} (the server's NESTVEC_MAX_K)", field)

    # collections ------------------------------------------------------------------------------
    def create_collection(self, req: CreateCollectionRequest) -> Collection:
        dim, fingerprint = req.dim, None
        if req.encoder is not None:
            encoder = self.encoder(req.encoder)
            dim = encoder.check_dim(dim)  # type: ignore[attr-defined]
            fingerprint = self.encoders.fingerprint(req.encoder, self.settings.resolved_models_dir)
            if req.domain is not None:
                check_options(encoder, {"domain": req.domain})
        elif dim is None:
            raise InvalidDimension("a collection without an encoder needs 'dim'", "dim")
        elif req.domain is not None:  # stored, then never used: no encoder to route
            raise InvalidInput("'domain' needs an encoder that takes one (moe-minilm)", "domain")
        for key, schema in req.payload_indexes.items():  # refused before anything is written
            check_payload_field(key, schema, ("payload_indexes", f"payload_indexes.{key}"))
        check_milvus_uri(req.index.params, req.index.type, self.settings.allowed_milvus_uris)
        config = CollectionConfig(
            name=req.name,
            dim=dim,
            metric=req.metric,
            encoder=req.encoder,
            index_type=req.index.type,
            index_params=req.index.params,
            domain=req.domain,
            encoder_fingerprint=fingerprint,
        )
        collection = self.catalog.create(config)
        self.metrics.recall.pop(req.name, None)  # measured on a collection of that name before
        drop_plots(self.settings.data_dir, req.name)  # drawn for one of that name before
        for key, schema in req.payload_indexes.items():  # an empty collection: no scan
            collection.create_payload_index(key, schema)
        return collection

    def drop_collection(self, name: str) -> None:
        self.catalog.drop(name)
        drop_plots(self.settings.data_dir, name)

    def describe(self, collection: Collection, created: bool = False) -> dict[str, Any]:
        """`created`: the collection a create just made, described even when a delete racing
        in has closed it since (it was made: the answer is 201, empty)."""
        try:
            count = collection.count()
        except CollectionDeleted:
            if not created:
                raise
            count = 0
        return {
            **collection.config.describe(),
            "count": count,
            "tombstone_ratio": collection.index.tombstone_ratio,
            "payload_indexes": collection.payload_indexes,
        }

    def describe_all(self) -> list[dict[str, Any]]:
        """Every served collection; one deleted while the list is made is left out."""
        described = []
        for name in self.catalog.names():
            try:
                described.append(self.describe(self.catalog.get(name)))
            except CollectionNotFound:  # CollectionDeleted included
                continue
        return described

    # points -----------------------------------------------------------------------------------
    def upsert(self, name: str, points: Sequence[PointIn]) -> int:
        """Encode text points, validate vector points, then write all of them or none.

        Raw inputs of a part encoder (a photo's faces) become one point per part (service.parts).
        """
        self.check_batch(len(points), "points")
        collection = self.catalog.get(name)
        fields = [f"points[{i}]" for i in range(len(points))]
        encoder_name = collection.config.encoder
        split = encoder_name is not None and issubclass(encoder_class(encoder_name), PartEncoder)
        in_parts = [split and point.input is not None for point in points]
        # the last occurrence of a repeated id wins, before a photo becomes its faces
        last = {str(point.id): i for i, point in enumerate(points)}
        kept = [i for i, point in enumerate(points) if last[str(point.id)] == i]
        whole = [i for i in kept if not in_parts[i]]
        parted = [i for i in kept if in_parts[i]]
        at = [fields[i] for i in whole]
        domain = collection.config.domain
        vectors = self._vectors(collection, [points[i] for i in whole], at, domain)
        ids = [str(points[i].id) for i in whole]
        payloads = [points[i].payload for i in whole]
        if parted:
            part_ids, part_vectors, part_payloads = expand_parts(
                cast(PartEncoder, self.batcher(str(encoder_name))),  # batched like the rest
                [points[i] for i in parted],
                [fields[i] for i in parted],
                collection.config.dim,
            )
            ids, payloads = ids + part_ids, payloads + part_payloads
            vectors = np.vstack([vectors, part_vectors])
        photos = [str(points[i].id) for i in parted]  # their old parts go, however many
        # kept for `nestvec reindex`; None forgets an older text
        texts = {str(points[i].id): points[i].text for i in whole} if encoder_name else {}
        try:
            return collection.upsert(ids, vectors, payloads, replace_parts_of=photos, texts=texts)
        except (InvalidPointId, InvalidPayload):
            check_points(ids[: len(whole)], payloads[: len(whole)], at)  # raises, named by place
            raise  # a face's of a photo: named by its place already

    def delete(self, name: str, ids: Sequence[str], filter: dict[str, Any] | None) -> int:
        """Delete by ids and/or by payload filter; returns how many points went."""
        self.check_batch(len(ids), "ids")
        collection = self.catalog.get(name)
        if filter is not None:
            parse_filter(filter)  # a bad filter refuses the whole request, ids deleted or not
        deleted = collection.delete(ids) if ids else 0
        return deleted + (collection.delete_where(filter) if filter is not None else 0)

    def _vectors(
        self,
        collection: Collection,
        items: Sequence[PointIn | Query],
        fields: Sequence[str],
        domain: str | None = None,
    ) -> np.ndarray:
        """One vector per item: texts and raw inputs encoded in one batch, vectors validated.

        Items with neither (queries by stored id) are left zero for the caller to fill.
        """
        dim = collection.config.dim
        if all(item.vector is not None for item in items):  # the common case, copied once
            return as_matrix([item.vector for item in items], dim, [f"{f}.vector" for f in fields])
        vectors = np.zeros((len(items), dim), np.float32)
        raw = [item.text if item.text is not None else item.input for item in items]
        raw_at = [i for i, value in enumerate(raw) if value is not None]
        vector_at = [i for i, item in enumerate(items) if item.vector is not None]
        if raw_at:
            first = items[raw_at[0]]
            field = f"{fields[raw_at[0]]}.{'text' if first.text is not None else 'input'}"
            encoder_name = self._encoder_of(collection, field)
            self._check_fingerprint(collection, encoder_name, field)
            inputs = [raw[i] for i in raw_at]
            # an error names the item's own field (`points[4].text`), not its place among inputs
            kinds = ["text" if items[i].text is not None else "input" for i in raw_at]
            renamed = {f"inputs[{j}]": f"{fields[i]}.{kinds[j]}" for j, i in enumerate(raw_at)}
            with fields_renamed(renamed):
                vectors[raw_at] = self.embed(encoder_name, inputs, dim, domain=domain)[1]
        if vector_at:
            rows = [items[i].vector or [] for i in vector_at]
            vectors[vector_at] = as_matrix(rows, dim, [f"{fields[i]}.vector" for i in vector_at])
        return vectors

    def _encoder_of(self, collection: Collection, field: str) -> str:
        if collection.config.encoder is None:
            raise NoEncoder(
                f"collection {collection.config.name!r} has no encoder; send vectors", field
            )
        return collection.config.encoder

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
            if request.domain is not None and request.query.text is None:  # it was ignored
                raise InvalidInput("'domain' routes a text query", f"{field[:-5]}domain")
        collection = self.catalog.get(name)
        self._check_funnels(collection, requests, fields)
        queries = [r.query for r in requests]
        by_domain: dict[str | None, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_domain[request.domain or collection.config.domain].append(i)
        if len(by_domain) == 1:  # one domain (nearly always): no scatter into a second array
            with fields_renamed({"domain": f"{fields[0][:-5]}domain"}):  # the search's own
                vectors = self._vectors(collection, queries, fields, next(iter(by_domain)))
        else:
            vectors = np.zeros((len(queries), collection.config.dim), np.float32)
            for domain, members in by_domain.items():
                with fields_renamed({"domain": f"{fields[members[0]][:-5]}domain"}):
                    vectors[members] = self._vectors(
                        collection,
                        [queries[i] for i in members],
                        [fields[i] for i in members],
                        domain,
                    )
        exclude: list[list[str]] = [[] for _ in requests]
        for i, query in enumerate(queries):
            if query.id is not None:
                stored = collection.vector_of(str(query.id), f"{fields[i]}.id")
                vectors[i], exclude[i] = stored.vector, [stored.id]
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            # repr keeps apart what compares apart (1 and 1.0 and True); a filter spelt in another
            # key order only forms a group of its own; k too, since a beam widens with k and a
            # search must answer as it does alone
            flags = (r.filter, r.params, r.with_payload, r.with_vector, r.funnel, r.k)
            key = repr(flags) if len(requests) > 1 else ""
            groups[key].append(i)
        results: list[list[Hit]] = [[] for _ in requests]
        for members in groups.values():
            first = requests[members[0]]
            hits = collection.search(
                vectors if len(members) == len(requests) else vectors[members],
                first.k,
                filter=first.filter,
                params=first.params,
                exclude=[exclude[i] for i in members],
                with_payload=first.with_payload,
                with_vector=first.with_vector,
                funnel=None if first.funnel is None else first.funnel.model_dump(),
            )
            for i, found in zip(members, hits, strict=True):
                results[i] = found
        return results

    def search_in_memory(self, name: str, request: SearchRequest) -> bool:
        """Whether one search needs no encoder and reads only built in-memory structures (the
        route may then run it on the event loop: cheaper than a worker-thread hop)."""
        query = request.query
        if query.text is not None or query.input is not None:
            return False
        funnel = None if request.funnel is None else request.funnel.model_dump()
        return self.catalog.get(name).reads_in_memory(request.filter, funnel, request.params)

    def _check_funnels(
        self, collection: Collection, requests: Sequence[SearchRequest], fields: Sequence[str]
    ) -> None:
        """Funnel dims must be Matryoshka dims of the collection's encoder (when it has one)."""
        encoder = collection.config.encoder
        for request, field in zip(requests, fields, strict=True):
            if request.funnel is None:
                continue
            where = field.removesuffix("query") + "funnel"
            spec = FunnelSpec.parse(request.funnel.model_dump(), collection.config.dim, where)
            if encoder is not None:
                nested = self.describe_encoder(encoder)["nested_dims"]
                check_nested(spec, nested, encoder, where)

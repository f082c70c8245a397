"""Qdrant's service root, collection routes and payload-index routes over the one Engine."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from fastapi import APIRouter

from index import Collection
from index.errors import CollectionNotFound, InvalidIndexParams, PayloadIndexNotFound
from service.deps import EngineDep, ReadAccess, WriteAccess
from service.errors import ServiceError
from service.qdrant.translate import (
    METRIC_NAMES,
    QDRANT_VERSION,
    QdrantRoute,
    Unsupported,
    answer,
    to_metric,
)
from service.schemas.collections import CreateCollectionRequest, IndexSpec
from service.schemas.qdrant import CreateCollection, PayloadIndex

router = APIRouter(route_class=QdrantRoute, tags=["qdrant"])
COMPLETED = {"operation_id": 0, "status": "completed"}  # writes are durable on return
# Qdrant's hnsw_config names -> the hnsw backend's parameter names
HNSW_PARAMS = {"m": "M", "ef_construct": "ef_construction"}
# Qdrant's defaults for the two fields qdrant-client up to 1.17 requires (its get_collection
# failed to parse the answer without them); nothing here optimises segments
_OPTIMIZER_CONFIG = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 1,
    "flush_interval_sec": 0,
}


@router.get("/", dependencies=[ReadAccess])
def root() -> dict[str, Any]:
    """What Qdrant answers at its root; qdrant-client reads `version` to check compatibility."""
    return {"title": "qdrant - vector search engine (nestvec)", "version": QDRANT_VERSION}


@router.get("/collections", dependencies=[ReadAccess])
def list_collections(engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    return answer({"collections": [{"name": n} for n in engine.catalog.names()]}, started)


@router.get("/collections/{name}", dependencies=[ReadAccess])
def get_collection(name: str, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    return answer(collection_info(engine.catalog.get(name)), started)


@router.get("/collections/{name}/exists", dependencies=[ReadAccess])
def collection_exists(name: str, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    if name in engine.catalog.unavailable:  # there, but unreadable: 503 as every other route
        engine.catalog.get(name)
    return answer({"exists": name in engine.catalog.names()}, started)


@router.put("/collections/{name}", dependencies=[WriteAccess])
def create_collection(name: str, req: CreateCollection, engine: EngineDep) -> dict[str, Any]:
    """One unnamed dense vector per point; named and sparse vectors are refused (400)."""
    started = time.perf_counter()
    try:
        engine.create_collection(to_create_request(name, req))
    except InvalidIndexParams as exc:  # named as sent: it said "M" of `hnsw_config.m`
        ours = (exc.field or "").rpartition(".")[2]
        theirs = {v: k for k, v in HNSW_PARAMS.items()}.get(ours)
        if theirs is not None:
            exc.field = f"hnsw_config.{theirs}"
            exc.message = exc.message.replace(f"{ours}:", f"{exc.field}:", 1)
        raise
    return answer(True, started)


@router.delete("/collections/{name}", dependencies=[WriteAccess])
def delete_collection(name: str, engine: EngineDep) -> dict[str, Any]:
    """True when it existed and went; false when there was none (as Qdrant)."""
    started = time.perf_counter()
    try:
        engine.drop_collection(name)
    except CollectionNotFound:
        return answer(False, started)
    return answer(True, started)


@router.put("/collections/{name}/index", dependencies=[WriteAccess])
def create_payload_index(name: str, req: PayloadIndex, engine: EngineDep) -> dict[str, Any]:
    """Qdrant's keyword, integer, float and bool indexes map onto nestvec's payload index."""
    started = time.perf_counter()
    if "[]" in req.field_name:  # the payload index reads plain dotted keys only
        raise Unsupported("payload indexes on [] keys are not supported", "field_name")
    schema = req.field_schema
    if isinstance(schema, dict):
        schema = schema.get("type")
    engine.catalog.get(name).create_payload_index(req.field_name, schema)  # type: ignore[arg-type]
    return answer(COMPLETED, started)


@router.delete("/collections/{name}/index/{field_name:path}", dependencies=[WriteAccess])
def delete_payload_index(name: str, field_name: str, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    with contextlib.suppress(PayloadIndexNotFound):  # idempotent in Qdrant: none there is done
        engine.catalog.get(name).drop_payload_index(field_name)
    return answer(COMPLETED, started)


def to_create_request(name: str, req: CreateCollection) -> CreateCollectionRequest:
    """Qdrant's create body as nestvec's: size -> dim, distance -> metric, HNSW m/ef_construct."""
    vectors = req.vectors
    if isinstance(vectors, dict) and set(vectors) == {""}:
        vectors = vectors[""]  # "" names the unnamed vector (LangChain sends it so)
    if vectors is None and not req.sparse_vectors:  # it was told named vectors are unsupported
        raise ServiceError(
            'give the vector\'s size and distance: {"vectors": {"size", "distance"}}', "vectors"
        )
    if vectors is None or isinstance(vectors, dict) or req.sparse_vectors:
        raise Unsupported(
            "only one unnamed dense vector per collection is supported "
            '({"vectors": {"size", "distance"}}); create one collection per vector name',
            "vectors",
        )
    if vectors.multivector_config is not None:
        raise Unsupported("multivectors are not supported", "vectors.multivector_config")
    # user data, not a tuning knob: dropping it would create a collection that silently lacks it
    if req.metadata:  # an empty one holds nothing to lose
        raise Unsupported("collection metadata is not supported", "metadata")
    if req.init_from is not None:
        raise Unsupported(
            "init_from is not supported: copy the points with scroll and upsert", "init_from"
        )
    hnsw = {
        **(req.hnsw_config.model_dump(exclude_none=True) if req.hnsw_config else {}),
        **(vectors.hnsw_config.model_dump(exclude_none=True) if vectors.hnsw_config else {}),
    }
    params = {HNSW_PARAMS[k]: v for k, v in hnsw.items() if k in HNSW_PARAMS}
    return CreateCollectionRequest(
        name=name,
        dim=vectors.size,
        metric=to_metric(vectors.distance),
        index=IndexSpec(type="hnsw", params=params),
    )


def collection_info(collection: Collection) -> dict[str, Any]:
    """A Qdrant CollectionInfo for any nestvec collection, however it was created."""
    config, count = collection.config, collection.count()
    schema = {
        key: {"data_type": type_, "params": None, "points": _with_key(collection, key)}
        for key, type_ in collection.payload_indexes.items()
    }
    return {
        "status": "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": count,
        "points_count": count,
        "segments_count": 1,
        "config": {
            "params": {
                "vectors": {"size": config.dim, "distance": METRIC_NAMES[config.metric]},
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": True,
            },
            "hnsw_config": {
                "m": getattr(collection.params, "M", 16),
                "ef_construct": getattr(collection.params, "ef_construction", 200),
                "full_scan_threshold": 10000,
            },
            "optimizer_config": _OPTIMIZER_CONFIG,
            "wal_config": {"wal_capacity_mb": 0, "wal_segments_ahead": 0},
        },
        "payload_schema": schema,
    }


def _with_key(collection: Collection, key: str) -> int:
    return collection.count({"must_not": [{"is_empty": {"key": key}}]})

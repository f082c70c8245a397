"""Qdrant's point routes: upsert, retrieve, scroll, count, delete and payload-only updates."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from index import Collection
from index.errors import PointNotFound
from service.deps import EngineDep, ReadAccess, WriteAccess
from service.errors import ServiceError
from service.qdrant.collections import COMPLETED
from service.qdrant.translate import (
    VECTORS,
    QdrantRoute,
    Unsupported,
    answer,
    path_number,
    qdrant_filter,
    record,
    to_nestvec_id,
    to_qdrant_id,
    unnamed,
    wants_vector,
)
from service.schemas.json_path import object_keys
from service.schemas.points import PointIn
from service.schemas.qdrant import (
    Count,
    DeletePayload,
    Retrieve,
    Scroll,
    Selector,
    SetPayload,
    UpsertPoints,
)

router = APIRouter(route_class=QdrantRoute, prefix="/collections/{name}/points", tags=["qdrant"])
SCROLL_LIMIT = 10  # Qdrant's default page


@router.put("", dependencies=[WriteAccess])
def upsert_points(name: str, req: UpsertPoints, engine: EngineDep) -> dict[str, Any]:
    """Points as a list (`points`) or as columns (`batch`); ids are unsigned ints or UUIDs."""
    started = time.perf_counter()
    engine.upsert(name, to_points(req))
    return answer(COMPLETED, started)


@router.post("", dependencies=[ReadAccess])
def retrieve_points(name: str, req: Retrieve, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    engine.check_batch(len(req.ids), "ids")
    ids = [to_nestvec_id(i, f"ids[{n}]") for n, i in enumerate(req.ids)]
    collection = engine.catalog.get(name)
    points = collection.get(ids, wants_vector(req.with_vector))
    metric = collection.config.metric
    return answer([record(p, metric, req.with_payload, req.with_vector) for p in points], started)


@router.get("/{point_id}", dependencies=[ReadAccess])
def get_point(name: str, point_id: str, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    collection = engine.catalog.get(name)
    asked = to_nestvec_id(point_id, "id")
    found = collection.get([*path_number(point_id), asked], with_vector=True)
    point = found[0] if found else collection.vector_of(asked, "id")  # raises: none found
    return answer(record(point, collection.config.metric, True, True), started)


@router.post("/scroll", dependencies=[ReadAccess])
def scroll_points(name: str, req: Scroll, engine: EngineDep) -> dict[str, Any]:
    """A page in id order from `offset` (inclusive), and the id the next page starts at."""
    started = time.perf_counter()
    if req.order_by is not None:
        raise Unsupported("order_by is not supported: scroll pages in id order", "order_by")
    limit = min(req.limit or SCROLL_LIMIT, engine.settings.max_page)
    start = None if req.offset is None else to_nestvec_id(req.offset, "offset")
    collection = engine.catalog.get(name)
    found = collection.page_matching(
        qdrant_filter(req.filter), start, limit + 1, wants_vector(req.with_vector)
    )
    next_offset = to_qdrant_id(found[limit].id) if len(found) > limit else None
    metric = collection.config.metric
    points = [record(p, metric, req.with_payload, req.with_vector) for p in found[:limit]]
    return answer({"points": points, "next_page_offset": next_offset}, started)


@router.post("/count", dependencies=[ReadAccess])
def count_points(name: str, engine: EngineDep, req: Count | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    flt = qdrant_filter(req.filter) if req else None
    return answer({"count": engine.catalog.get(name).count(flt)}, started)


@router.post("/delete", dependencies=[WriteAccess])
def delete_points(name: str, req: Selector, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    ids, flt = selected(req)
    engine.delete(name, ids or [], flt)
    return answer(COMPLETED, started)


@router.post("/payload", dependencies=[WriteAccess])
def set_payload(name: str, req: SetPayload, engine: EngineDep) -> dict[str, Any]:
    """Merge keys into the payloads (into the object at `key`, a path, when given); vectors stay."""
    started = time.perf_counter()
    collection = engine.catalog.get(name)
    ids, flt = targets(collection, req)
    key = None if req.key is None else object_keys(req.key)
    collection.set_payload(ids, flt, req.payload, key)
    return answer(COMPLETED, started)


@router.put("/payload", dependencies=[WriteAccess])
def overwrite_payload(name: str, req: SetPayload, engine: EngineDep) -> dict[str, Any]:
    """Replace the payloads whole; vectors stay."""
    started = time.perf_counter()
    if req.key is not None:
        raise ServiceError("overwrite_payload takes no key", "key")
    collection = engine.catalog.get(name)
    ids, flt = targets(collection, req)
    collection.overwrite_payload(ids, flt, req.payload)
    return answer(COMPLETED, started)


@router.post("/payload/delete", dependencies=[WriteAccess])
def delete_payload(name: str, req: DeletePayload, engine: EngineDep) -> dict[str, Any]:
    """Remove the keys (paths: `a.b`, `a."x.y"`) from the payloads; vectors stay."""
    started = time.perf_counter()
    collection = engine.catalog.get(name)
    ids, flt = targets(collection, req)
    collection.delete_payload_keys(ids, flt, [object_keys(k) for k in req.keys])
    return answer(COMPLETED, started)


@router.post("/payload/clear", dependencies=[WriteAccess])
def clear_payload(name: str, req: Selector, engine: EngineDep) -> dict[str, Any]:
    started = time.perf_counter()
    collection = engine.catalog.get(name)
    ids, flt = targets(collection, req)
    collection.clear_payload(ids, flt)
    return answer(COMPLETED, started)


def targets(
    collection: Collection, req: Selector
) -> tuple[list[str] | None, dict[str, Any] | None]:
    """What a payload change selects; a named point that does not exist is 404, as in Qdrant
    (a change to it was answered `completed` and did nothing)."""
    ids, flt = selected(req)
    found = {p.id for p in collection.get(ids, with_vector=False)} if ids else set()
    for n, point_id in enumerate(ids or []):
        if point_id not in found:
            asked = (req.points or [])[n]
            raise PointNotFound(f"No point with id {asked} found", f"points[{n}]")
    return ids, flt


def selected(req: Selector) -> tuple[list[str] | None, dict[str, Any] | None]:
    """The ids or the filter a selector names (exactly one: Qdrant's selector is one or the
    other, and `{"points": [1], "filter": {}}` deleted every point as a union)."""
    if req.points is None and req.filter is None:
        raise ServiceError("give the points to change: `points` (ids) or `filter`", "points")
    if req.points is not None and req.filter is not None:
        raise ServiceError("give `points` (ids) or `filter`, not both", "filter")
    ids = None
    if req.points is not None:
        ids = [to_nestvec_id(i, f"points[{n}]") for n, i in enumerate(req.points)]
    return ids, qdrant_filter(req.filter)


def to_points(req: UpsertPoints) -> list[PointIn]:
    """Qdrant points as nestvec's upsert items (vectors are validated by the engine)."""
    if req.update_filter is not None:
        raise Unsupported("update_filter is not supported", "update_filter")
    if (req.points is None) == (req.batch is None):
        raise ServiceError("give exactly one of: points, batch", "points")
    if req.points is not None:
        return [
            PointIn(
                id=to_nestvec_id(p.id, f"points[{i}].id", strict=True),
                vector=unnamed(p.vector, None, f"points[{i}].vector"),
                payload=p.payload or {},
            )
            for i, p in enumerate(req.points)
        ]
    batch = req.batch
    assert batch is not None
    vectors = unnamed(batch.vectors, None, "batch.vectors", VECTORS)
    payloads = batch.payloads or [None] * len(batch.ids)
    if not len(batch.ids) == len(vectors) == len(payloads):
        raise ServiceError("batch ids, vectors and payloads must be as many", "batch")
    return [
        PointIn(
            id=to_nestvec_id(pid, f"batch.ids[{i}]", strict=True),
            vector=vector,
            payload=payload or {},
        )
        for i, (pid, vector, payload) in enumerate(zip(batch.ids, vectors, payloads, strict=True))
    ]

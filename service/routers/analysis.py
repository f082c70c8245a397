"""Diagnostics of a collection (intrinsic dimension, insertion order, recall), their PNG plots,
and rebuilding its index in a chosen insertion order.

Sync routes: FastAPI runs them in its threadpool, so a long analysis never blocks the loop.
"""

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from diagnostics import reports as analysis
from diagnostics.funnel import funnel_recall_report
from diagnostics.plots import plot_file, plot_path
from diagnostics.requests import (
    FunnelRecallRequest,
    FunnelRecallResponse,
    InsertionOrderRequest,
    InsertionOrderResponse,
    IntrinsicDimensionRequest,
    IntrinsicDimensionResponse,
    RebuildRequest,
    RebuildResponse,
    RecallRequest,
    RecallResponse,
)
from index import Collection
from index.errors import CollectionDeleted
from service.deps import EngineDep, ReadAccess, WriteAccess
from service.engine import Engine
from service.errors import fields_renamed
from service.routers import JsonRoute

PREFIX = "/v1/collections/{name}"
router = APIRouter(route_class=JsonRoute, prefix=PREFIX, tags=["analysis"])


def _analysed(
    engine: Engine, name: str, kind: str, req: BaseModel, run: Callable[[Collection, Path], Any]
) -> dict[str, Any]:
    """`run(collection, png)`'s result (a dict with "plot") with its plot's URL in place of its
    path. A collection deleted while it ran is a 404, as any request's, and its PNG is removed:
    it would have been served as a new collection's of that name."""
    collection = engine.catalog.get(name)
    png = plot_path(engine.settings.data_dir, name, kind, req, collection.store.store_id)
    try:
        result = run(collection, png)
    except FileNotFoundError:  # the delete took the plot folder away mid-write
        _still_there(engine, name, collection, png)
        raise
    _still_there(engine, name, collection, png)
    filename = Path(result.pop("plot")).name
    return {**result, "plot_url": f"{PREFIX.format(name=name)}/analysis/plots/{filename}"}


def _still_there(engine: Engine, name: str, collection: Collection, png: Path) -> None:
    if engine.catalog.find(name) is not collection:
        png.unlink(missing_ok=True)
        with suppress(OSError):  # the plot's write made the folder again after the delete
            png.parent.rmdir()  # empty unless a new collection of that name wrote there
        raise CollectionDeleted()


def _check_queries(
    engine: Engine, req: InsertionOrderRequest | RecallRequest | FunnelRecallRequest
) -> None:
    if req.query_vectors is not None:
        engine.check_batch(len(req.query_vectors), "query_vectors")


@router.post(
    "/analysis/intrinsic-dimension",
    response_model=IntrinsicDimensionResponse,
    dependencies=[ReadAccess],
)
def intrinsic_dimension(
    name: str, engine: EngineDep, req: IntrinsicDimensionRequest | None = None
) -> dict[str, Any]:
    """MLE, TwoNN, PCA-99 and pointwise LID of a sample; the plot is the LID histogram."""
    req = req or IntrinsicDimensionRequest()
    for field in ("k", "lid_k"):  # a kNN of the whole sample: k bounds its memory
        engine.check_k(getattr(req, field) or 0, field, field)
    run = lambda c, png: analysis.intrinsic_dimension(c, req, png)[0]  # noqa: E731
    return _analysed(engine, name, "intrinsic-dimension", req, run)


@router.post(
    "/analysis/insertion-order", response_model=InsertionOrderResponse, dependencies=[ReadAccess]
)
def insertion_order(
    name: str, engine: EngineDep, req: InsertionOrderRequest | None = None
) -> dict[str, Any]:
    """HNSW recall@k under each insertion order, library and seed, with a recommendation."""
    req = req or InsertionOrderRequest()
    engine.check_k(req.k)
    _check_queries(engine, req)
    run = lambda c, png: analysis.insertion_order_report(c, req, png)  # noqa: E731
    return _analysed(engine, name, "insertion-order", req, run)


@router.post("/analysis/recall", response_model=RecallResponse, dependencies=[ReadAccess])
def recall(name: str, engine: EngineDep, req: RecallRequest | None = None) -> dict[str, Any]:
    """Recall@k of the real search path against exact kNN; autotunes ef/nprobe on request."""
    req = req or RecallRequest()
    engine.check_k(req.k)
    _check_queries(engine, req)
    run = lambda c, png: analysis.recall_report(c, req, png)  # noqa: E731
    report = _analysed(engine, name, "recall", req, run)
    engine.metrics.recall[name] = report["recall"]  # /metrics' nestvec_collection_recall
    return report


@router.post("/analysis/funnel", response_model=FunnelRecallResponse, dependencies=[ReadAccess])
def funnel_recall(
    name: str, engine: EngineDep, req: FunnelRecallRequest | None = None
) -> dict[str, Any]:
    """Recall@k of each Matryoshka tier alone and of funnel searches against exact kNN."""
    req = req or FunnelRecallRequest()
    engine.check_k(req.k)
    _check_queries(engine, req)
    encoder = engine.catalog.get(name).config.encoder
    nested = None if encoder is None else engine.describe_encoder(encoder)["nested_dims"]
    run = lambda c, png: funnel_recall_report(c, req, nested, png)  # noqa: E731
    return _analysed(engine, name, "funnel", req, run)


@router.get(
    "/analysis/plots/{filename}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}},
    dependencies=[ReadAccess],
)
def get_plot(name: str, filename: str, engine: EngineDep) -> FileResponse:
    """A PNG an analysis of this collection wrote."""
    engine.catalog.get(name)  # 404 for an unknown collection
    path = plot_file(engine.settings.data_dir, name, filename)
    return FileResponse(path, media_type="image/png")


# a write: it replaces the collection's index (in the chosen insertion order)
@router.post("/rebuild", response_model=RebuildResponse, dependencies=[WriteAccess])
def rebuild(name: str, engine: EngineDep, req: RebuildRequest | None = None) -> dict[str, Any]:
    """Rebuild the index from the stored vectors, inserting them in the given order."""
    with fields_renamed({"order": "insertion_order"}):  # the order's own errors say "order"
        return analysis.rebuild(engine.catalog.get(name), req or RebuildRequest())

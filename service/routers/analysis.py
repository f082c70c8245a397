"""Diagnostics of a collection (intrinsic dimension, insertion order, recall), their PNG plots,
and rebuilding its index in a chosen insertion order.

Sync routes: FastAPI runs them in its threadpool, so a long analysis never blocks the loop.
"""

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

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
from service.deps import EngineDep, ReadAccess, WriteAccess
from service.engine import Engine
from service.errors import fields_renamed
from service.routers import JsonRoute

PREFIX = "/v1/collections/{name}"
router = APIRouter(route_class=JsonRoute, prefix=PREFIX, tags=["analysis"])


def _with_plot_url(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The result with its PNG's server path replaced by the URL that serves it."""
    filename = Path(result.pop("plot")).name
    return {**result, "plot_url": f"{PREFIX.format(name=name)}/analysis/plots/{filename}"}


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
    png = plot_path(engine.settings.data_dir, name, "intrinsic-dimension", req)
    summary, _, _ = analysis.intrinsic_dimension(engine.catalog.get(name), req, png)
    return _with_plot_url(name, summary)


@router.post(
    "/analysis/insertion-order", response_model=InsertionOrderResponse, dependencies=[ReadAccess]
)
def insertion_order(
    name: str, engine: EngineDep, req: InsertionOrderRequest | None = None
) -> dict[str, Any]:
    """HNSW recall@k under each insertion order, library and seed, with a recommendation."""
    req = req or InsertionOrderRequest()
    _check_queries(engine, req)
    png = plot_path(engine.settings.data_dir, name, "insertion-order", req)
    report = analysis.insertion_order_report(engine.catalog.get(name), req, png)
    return _with_plot_url(name, report)


@router.post("/analysis/recall", response_model=RecallResponse, dependencies=[ReadAccess])
def recall(name: str, engine: EngineDep, req: RecallRequest | None = None) -> dict[str, Any]:
    """Recall@k of the real search path against exact kNN; autotunes ef/nprobe on request."""
    req = req or RecallRequest()
    engine.check_k(req.k)
    _check_queries(engine, req)
    png = plot_path(engine.settings.data_dir, name, "recall", req)
    report = analysis.recall_report(engine.catalog.get(name), req, png)
    engine.metrics.recall[name] = report["recall"]  # /metrics' nestvec_collection_recall
    return _with_plot_url(name, report)


@router.post("/analysis/funnel", response_model=FunnelRecallResponse, dependencies=[ReadAccess])
def funnel_recall(
    name: str, engine: EngineDep, req: FunnelRecallRequest | None = None
) -> dict[str, Any]:
    """Recall@k of each Matryoshka tier alone and of funnel searches against exact kNN."""
    req = req or FunnelRecallRequest()
    engine.check_k(req.k)
    _check_queries(engine, req)
    collection = engine.catalog.get(name)
    encoder = collection.config.encoder
    nested = None if encoder is None else engine.describe_encoder(encoder)["nested_dims"]
    png = plot_path(engine.settings.data_dir, name, "funnel", req)
    return _with_plot_url(name, funnel_recall_report(collection, req, nested, png))


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

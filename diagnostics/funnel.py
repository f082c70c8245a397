"""Recall@k of each Matryoshka tier alone and of funnel searches against full-dim exact kNN.

The same queries and ground truth as `diagnostics.recall.recall_report`; tiers and funnels go
through `Collection.search(funnel=...)`, the path real searches take.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diagnostics.data import analysis_metric, read_points, require_points
from diagnostics.plots import _figure, write_png
from diagnostics.recall import ground_truth, recall_queries
from diagnostics.requests import FunnelRecallRequest
from index import Collection
from index.errors import IndexError_
from index.funnel_spec import FunnelSpec, InvalidFunnelDimension, check_nested


def funnel_dims(
    collection: Collection, asked: list[int] | None, nested: Sequence[int] | None
) -> list[int]:
    """The tiers to measure: those asked (validated) or the encoder's nested dims below the
    collection dim; halvings of the dim for a collection without an encoder."""
    dim, name = collection.config.dim, collection.config.encoder
    if asked is None:
        pool = nested if nested is not None else [dim // 2**i for i in range(1, 5)]
        asked = sorted(d for d in pool if 0 < d < dim)
        if not asked:
            raise InvalidFunnelDimension(
                f"encoder {name!r} declares no nested dims below {dim} to funnel through", "dims"
            )
    for i, d in enumerate(asked):
        try:  # each tier checked as a one-tier funnel; errors name the request's dims[i]
            spec = FunnelSpec.parse({"dims": [d]}, dim)
            if nested is not None and name is not None:
                check_nested(spec, nested, name, "funnel")
        except IndexError_ as exc:
            exc.field = f"dims[{i}]"
            raise
    return sorted(set(asked))


def _labels_of(
    collection: Collection,
    queries: np.ndarray,
    k: int,
    funnel: dict[str, Any],
    exclude: list[list[str]] | None,
    label_of: dict[str, int],
) -> np.ndarray:
    hits = collection.search(queries, k, funnel=funnel, exclude=exclude, with_payload=False)
    found = np.full((len(queries), k), -1, np.int64)
    for row, row_hits in enumerate(hits):
        found[row, : len(row_hits)] = [label_of.get(h.id, -1) for h in row_hits]
    return found


def funnel_recall_report(
    collection: Collection, req: FunnelRecallRequest, nested: Sequence[int] | None, png: Path
) -> dict[str, Any]:
    """Tier-alone and funnel recall@k (single tiers, then the cascade of all) vs exact kNN."""
    dims = funnel_dims(collection, req.dims, nested)
    labels, vectors, ids = read_points(collection)
    require_points(len(labels), 2, "a funnel recall measurement")
    queries, own = recall_queries(collection, req, labels, vectors)  # type: ignore[arg-type]
    metric = analysis_metric(collection.config.metric)
    truth = ground_truth(labels, vectors, queries, own, req.k, metric, None)
    label_of = {pid: label for label, pid in ids.items()}
    own_ids = None if own is None else [ids[x] for x in own.tolist()]
    exclude = None if own_ids is None else [[i] for i in own_ids]

    def recall(funnel_dims: list[int], shortlist: int) -> float:
        funnel = {"dims": funnel_dims, "shortlist": shortlist}
        found = _labels_of(collection, queries, req.k, funnel, exclude, label_of)
        return truth.recall(found)

    # a tier alone: its own top-k (re-ranking k candidates leaves the set, so recall, unchanged)
    tiers = [{"dim": d, "recall": recall([d], req.k)} for d in dims]
    cascades = [[d] for d in dims] + ([dims] if len(dims) > 1 else [])
    # a search keeps at least k candidates: a shortlist below k is searched, so shown, as k
    shortlist = max(req.shortlist, req.k)
    funnels = [
        {"dims": c, "shortlist": shortlist, "recall": recall(c, shortlist)} for c in cascades
    ]
    result = {
        "k": req.k,
        "queries": len(queries),
        "query_ids": own_ids,
        "dim": collection.config.dim,
        "tiers": tiers,
        "funnels": funnels,
    }
    title = f"collection {collection.config.name!r}"
    result["plot"] = write_png(lambda p: plot_funnel(result, p, title), png)
    return result


def plot_funnel(r: dict[str, Any], path: Path, title: str) -> None:
    """Bars: recall@k of each tier alone and of the funnel through it."""
    fig = _figure(7.5, 4.4)
    ax = fig.subplots()
    x = np.arange(len(r["tiers"]))
    single = [f for f in r["funnels"] if len(f["dims"]) == 1]
    ax.bar(x - 0.2, [t["recall"] for t in r["tiers"]], 0.4, label="tier alone (its top-k)")
    ax.bar(x + 0.2, [f["recall"] for f in single], 0.4, label="funnel: tier shortlist + re-rank")
    ax.set_xticks(x, [str(t["dim"]) for t in r["tiers"]])
    ax.set_xlabel(f"tier dims (of {r['dim']}); shortlist {single[0]['shortlist']}")
    ax.set_ylabel(f"recall@{r['k']} vs full-dim exact kNN")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    ax.set_title(f"Matryoshka funnel — {title}, {r['queries']} queries", fontsize=10)
    fig.savefig(path, format="png")

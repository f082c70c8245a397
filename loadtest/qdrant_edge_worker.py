"""The Qdrant side of bench_qdrant_edge.py; runs in its own venv (numpy + qdrant-edge-py only).

Reads `data.npy`, `n.npy` and `queries.npy` from the directory given, builds a Qdrant Edge shard
(one segment, hnsw m / ef_construct as given, an integer payload index on `n`, one search
thread), times upserts plus the optimisation that builds the graph, then times single queries
for each filter and prints one JSON object: insert rate, and per filter QPS, p50 ms and the ids
found for each distinct query.

    python qdrant_edge_worker.py DIR --seconds 3 --m 16 --ef-construction 100 --ef 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

K, BATCH = 10, 1000


def filters() -> dict[str, Any]:
    """The filters of bench_filtered.py, as Qdrant objects (None: unfiltered)."""
    return {
        "unfiltered": None,
        "50% filter": qe.Filter(must=[qe.FieldCondition(key="n", range=qe.RangeFloat(lt=50))]),
        "1% filter": qe.Filter(must=[qe.FieldCondition(key="n", match=qe.MatchValue(7))]),
    }


def timed(call: Callable[[int], Any], seconds: float) -> tuple[float, float]:
    """(calls per second, p50 ms) of `call(i)` repeated for about `seconds`."""
    latencies: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        call(len(latencies))
        latencies.append(time.perf_counter() - t0)
    return len(latencies) / (time.perf_counter() - start), 1000 * statistics.median(latencies)


def create(path: Path, dim: int, m: int, ef_construction: int) -> qe.EdgeShard:
    """A shard like a nestvec hnsw collection: one graph over every point, one search thread."""
    hnsw = qe.HnswIndexConfig(m=m, ef_construct=ef_construction, full_scan_threshold=10_000)
    config = qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
        hnsw_config=hnsw,
        # One segment, so the graph is one HNSW over all points as on the nestvec side;
        # a 1 KB threshold makes the optimiser index any segment, however small the run.
        optimizers=qe.EdgeOptimizersConfig(
            default_segment_number=1, max_segment_size=10_000_000, indexing_threshold=1
        ),
        max_search_threads=1,
        payload_memory=qe.Memory.Cached,
    )
    return qe.EdgeShard.create(str(path), config)


def load(shard: qe.EdgeShard, data: np.ndarray, n_of: np.ndarray) -> tuple[float, int]:
    """Index `n`, upsert in batches of 1,000, optimise; (points per second, segments)."""
    shard.update(qe.UpdateOperation.create_field_index("n", qe.PayloadSchemaType.Integer))
    start = time.perf_counter()
    for lo in range(0, len(data), BATCH):
        hi = min(lo + BATCH, len(data))
        points = [qe.Point(i, data[i].tolist(), {"n": int(n_of[i])}) for i in range(lo, hi)]
        shard.update(qe.UpdateOperation.upsert_points(points))
    shard.optimize()  # builds the HNSW graph and the payload index's graph links
    rate = len(data) / (time.perf_counter() - start)
    info = shard.info()
    if info.points_count != len(data) or info.indexed_vectors_count < len(data):
        raise SystemExit(
            f"shard holds {info.points_count} points, {info.indexed_vectors_count} "
            f"indexed; expected {len(data)}"
        )
    return rate, info.segments_count


def search_row(
    shard: qe.EdgeShard, queries: list[list[float]], flt: Any, ef: int, seconds: float
) -> dict[str, Any]:
    """QPS, p50 and the ids found per distinct query, one query a call."""
    found: list[list[int]] = []
    params = qe.SearchParams(hnsw_ef=ef)

    def search(i: int) -> None:
        request = qe.SearchRequest(
            query=qe.Query.Nearest(queries[i % len(queries)]),
            limit=K,
            filter=flt,
            params=params,
            with_payload=False,
            with_vector=False,
        )
        hits = shard.search(request)
        if len(found) < len(queries):
            found.append([int(h.id) for h in hits])

    qps, p50 = timed(search, seconds)
    return {"qps": qps, "p50_ms": p50, "found": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef", type=int, default=64)
    args = parser.parse_args()
    data = np.load(args.dir / "data.npy")
    n_of = np.load(args.dir / "n.npy")
    queries = np.load(args.dir / "queries.npy").tolist()  # the API takes lists: convert once
    with tempfile.TemporaryDirectory(prefix="qdrant-edge-") as tmp:
        shard = create(Path(tmp) / "shard", data.shape[1], args.m, args.ef_construction)
        try:
            rate, segments = load(shard, data, n_of)
            rows = {
                name: search_row(shard, queries, flt, args.ef, args.seconds)
                for name, flt in filters().items()
            }
        finally:
            shard.close()
    out = {"version": qe_version(), "insert_rate": rate, "segments": segments, "rows": rows}
    print(json.dumps(out))
    return 0


def qe_version() -> str:
    from importlib.metadata import version

    return version("qdrant-edge-py")


if __name__ == "__main__":
    raise SystemExit(main())

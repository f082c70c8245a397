"""Search-core benchmark over REST: filtered and unfiltered search and upserts, as ratios.

Loads `--points` clustered 128-d vectors with an integer payload `n` (0-99) into a real
`nestvec serve` over loopback (hnsw M=16, ef_construction=100, ef=64), once with a payload index
on `n` and once without, and times with one keep-alive client: `GET /healthz` (the floor of any
REST call), unfiltered search, a 50% filter (`n < 50`) and a 1% filter (`n == 7`). Raw hnswlib
builds and searches the same vectors in the same run. Prints QPS, p50 and recall@10 of each and
the issue's ratios: search ÷ healthz, filtered ÷ unfiltered, upserts ÷ raw `add_items`. Request
bodies are serialised (orjson) before timing, as raw hnswlib gets its arrays ready.

    .venv/bin/python loadtest/bench_filtered.py [--points 100000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hnswlib
import httpx
import numpy as np
import orjson

from nestvec.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_locust import Server  # noqa: E402

DIM, K, M, EF_CONSTRUCTION, EF = 128, 10, 16, 100, 64
NO_MODEL = {"NESTVEC_PRELOAD_ENCODERS": ""}
JSON = {"content-type": "application/json"}
FILTERS: dict[str, dict[str, Any] | None] = {
    "unfiltered": None,
    "50% filter": {"must": [{"key": "n", "range": {"lt": 50}}]},
    "1% filter": {"must": [{"key": "n", "match": {"value": 7}}]},
}


def clustered(n: int, seed: int) -> np.ndarray:
    """Unit vectors around 100 centres, spread in a 16-d subspace: embedding-like (clustered,
    of low intrinsic dimension); the same centres and subspace for every seed."""
    shape = np.random.default_rng(1234)
    centres = shape.normal(size=(100, DIM)).astype(np.float32)
    basis = shape.normal(size=(16, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    spread = rng.normal(size=(n, 16)).astype(np.float32) @ basis
    x = centres[rng.integers(0, 100, n)] + 0.4 * spread
    x += 0.05 * rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(call: Callable[[int], Any], seconds: float) -> tuple[float, float]:
    """(calls per second, p50 ms) of `call(i)` repeated for about `seconds`."""
    latencies: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        call(len(latencies))
        latencies.append(time.perf_counter() - t0)
    return len(latencies) / (time.perf_counter() - start), 1000 * statistics.median(latencies)


def exact_top(data: np.ndarray, keep: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """Exact top-k ids (cosine) among the points a filter keeps."""
    rows = np.flatnonzero(keep)
    scores = queries @ data[rows].T
    return [set(rows[np.argsort(-s)[:K]].tolist()) for s in scores]


def load(api: httpx.Client, name: str, data: np.ndarray, n_of: np.ndarray, indexed: bool) -> float:
    """Create the collection and upsert in batches of 1,000; returns points per second."""
    Client(http=api).create_collection(
        name,
        dim=DIM,
        metric="cosine",
        index="hnsw",
        index_params={"M": M, "ef_construction": EF_CONSTRUCTION, "ef": EF},
        payload_indexes={"n": "integer"} if indexed else None,
    )
    bodies = [  # serialised before the clock starts, as raw hnswlib gets its arrays ready
        orjson.dumps(
            {
                "points": [
                    {"id": str(i), "vector": data[i], "payload": {"n": int(n_of[i])}}
                    for i in range(lo, min(lo + 1000, len(data)))
                ]
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        for lo in range(0, len(data), 1000)
    ]
    start = time.perf_counter()
    for body in bodies:
        r = api.put(f"/v1/collections/{name}/points", content=body, headers=JSON)
        r.raise_for_status()
    return len(data) / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="vectors (128-d)")
    parser.add_argument("--queries", type=int, default=200, help="distinct query vectors")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per row")
    args = parser.parse_args(argv)
    data = clustered(args.points, seed=0)
    queries = clustered(args.queries, seed=1)
    n_of = np.random.default_rng(2).integers(0, 100, args.points)
    masks = {
        "unfiltered": np.ones(args.points, bool),
        "50% filter": n_of < 50,
        "1% filter": n_of == 7,
    }
    truth = {name: exact_top(data, mask, queries) for name, mask in masks.items()}

    raw = hnswlib.Index(space="ip", dim=DIM)
    raw.init_index(max_elements=args.points, M=M, ef_construction=EF_CONSTRUCTION)
    t0 = time.perf_counter()
    raw.add_items(data, np.arange(args.points))
    raw_add = args.points / (time.perf_counter() - t0)
    raw.set_ef(EF)
    rows: list[tuple[str, float, float, float]] = []
    for name, mask in masks.items():
        allowed = None if name == "unfiltered" else mask.__getitem__
        found: list[set[int]] = []

        def raw_search(i: int, allowed: Any = allowed, found: list[set[int]] = found) -> None:
            labels, _ = raw.knn_query(queries[i % len(queries)], k=K, filter=allowed)
            if len(found) < len(queries):
                found.append(set(labels[0].tolist()))

        qps, p50 = timed(raw_search, args.seconds)
        rows.append((f"raw hnswlib, {name}", qps, p50, recall(found, truth[name])))

    with tempfile.TemporaryDirectory(prefix="nestvec-filtered-") as tmp:
        server = Server(Path(tmp) / "data", NO_MODEL).start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as api:
                rates = {
                    indexed: load(api, f"c{int(indexed)}", data, n_of, indexed)
                    for indexed in (False, True)
                }
                floor, floor_p50 = timed(lambda i: api.get("/healthz"), args.seconds)
                rows.append(("REST GET /healthz", floor, floor_p50, float("nan")))
                for indexed in (False, True):
                    for name, flt in FILTERS.items():
                        rows.append(rest_row(api, indexed, name, flt, queries, truth, args))
        finally:
            server.stop()
    report(rows, rates, raw_add, floor)
    return 0


def rest_row(
    api: httpx.Client,
    indexed: bool,
    name: str,
    flt: dict[str, Any] | None,
    queries: np.ndarray,
    truth: dict[str, list[set[int]]],
    args: argparse.Namespace,
) -> tuple[str, float, float, float]:
    """One REST search row: QPS, p50 and recall@10 against exact filtered kNN."""
    collection = f"c{int(indexed)}"
    found: list[set[int]] = []

    bodies = [
        orjson.dumps(
            {"query": {"vector": q.tolist()}, "k": K, "with_payload": False}
            | ({} if flt is None else {"filter": flt})
        )
        for q in queries
    ]

    def search(i: int) -> None:
        body = bodies[i % len(bodies)]
        r = api.post(f"/v1/collections/{collection}/search", content=body, headers=JSON)
        r.raise_for_status()
        if len(found) < len(queries):
            found.append({int(h["id"]) for h in r.json()["results"]})

    qps, p50 = timed(search, args.seconds)
    label = f"REST {name}, payload index {'on' if indexed else 'off'}"
    return label, qps, p50, recall(found, truth[name])


def recall(found: list[set[int]], truth: list[set[int]]) -> float:
    pairs = list(zip(found, truth, strict=False))
    return sum(len(f & t) for f, t in pairs) / sum(len(t) for _, t in pairs)


def report(
    rows: list[tuple[str, float, float, float]],
    rates: dict[bool, float],
    raw_add: float,
    floor: float,
) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measurement':<{width}} | {'QPS':>9} | {'p50 ms':>8} | recall@10")
    print("-" * width + "-+-----------+----------+----------")
    for name, qps, p50, rec in rows:
        print(f"{name:<{width}} | {qps:9.1f} | {p50:8.3f} | {rec:.3f}")
    by = {r[0]: r[1] for r in rows}
    print("\nratios (same run)")
    for indexed in (False, True):
        tag = f"payload index {'on' if indexed else 'off'}"
        unf = by[f"REST unfiltered, {tag}"]
        print(f"  REST search ÷ GET /healthz ({tag}): {unf / floor:.2f}")
        for name in ("50% filter", "1% filter"):
            print(f"  REST {name} ÷ REST unfiltered ({tag}): {by[f'REST {name}, {tag}'] / unf:.3f}")
        print(
            f"  REST upserts (1,000 a batch) ÷ raw add_items ({tag}): "
            f"{rates[indexed] / raw_add:.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())

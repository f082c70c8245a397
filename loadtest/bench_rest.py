"""REST overhead benchmark: the real server over loopback vs the same work in-process.

Starts `python -m service.cli serve` on 127.0.0.1 (free port, temp data dir), loads SciFact
abstracts, and prints embed throughput and vector-search QPS/latency for REST (`--concurrency`
client threads) and in-process (one thread, sequential calls), with the ratio REST / in-process.

    .venv/bin/python loadtest/bench_rest.py [--docs 500] [--queries 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/scifact"
ENCODER, COLLECTION, BATCH, K = "minilm", "bench", 32, 10
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: import the project's packages
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # keep the table readable


def load_texts(path: Path, n: int, key: Callable[[dict[str, Any]], str]) -> list[str]:
    """The first `n` records of a JSONL file, mapped to text by `key`."""
    with path.open(encoding="utf-8") as lines:
        return [key(json.loads(line)) for line, _ in zip(lines, range(n), strict=False)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(data_dir: Path, timeout: float = 180.0) -> Iterator[str]:
    """A real `nestvec serve` subprocess; yields its base URL once /readyz answers 200."""
    port, log = free_port(), (data_dir / "server.log").open("w")
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _ready(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (data_dir / "server.log").read_text()[-2000:]
                raise RuntimeError(f"server did not become ready:\n{tail}")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def run_concurrent(
    base: str, bodies: Sequence[tuple[str, dict[str, Any]]], concurrency: int
) -> tuple[float, list[float], list[Any]]:
    """POST every (path, body) from `concurrency` threads; wall seconds, latencies, responses."""

    def work(worker: int) -> list[tuple[int, float, Any]]:
        out = []
        with httpx.Client(base_url=base, timeout=120) as client:
            for i in range(worker, len(bodies), concurrency):
                t0 = time.perf_counter()
                resp = client.post(bodies[i][0], json=bodies[i][1])
                resp.raise_for_status()
                out.append((i, time.perf_counter() - t0, resp.json()))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = [row for rows in pool.map(work, range(concurrency)) for row in rows]
    wall = time.perf_counter() - start
    done.sort(key=lambda row: row[0])
    return wall, [row[1] for row in done], [row[2] for row in done]


def timed(calls: Sequence[Callable[[], Any]]) -> tuple[float, list[float], list[Any]]:
    """Run calls one after another; wall seconds, latencies, results."""
    latencies, results, start = [], [], time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        results.append(call())
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - start, latencies, results


Row = tuple[str, float, float]  # measurement, REST, in-process


def bench_embed(base: str, encoder: Any, docs: list[str], concurrency: int) -> tuple[Row, Any]:
    """Texts/s through POST /v1/embed vs `encoder.encode`, same batches; also the vectors."""
    batches = [docs[i : i + BATCH] for i in range(0, len(docs), BATCH)]
    bodies = [("/v1/embed", {"encoder": ENCODER, "inputs": b}) for b in batches]
    encoder.encode(batches[0])  # warm-up, both sides
    run_concurrent(base, bodies[:1], 1)
    rest, _, _ = run_concurrent(base, bodies, concurrency)
    local, _, encoded = timed([lambda b=b: encoder.encode(b) for b in batches])
    row = ("embed throughput (texts/s)", len(docs) / rest, len(docs) / local)
    return row, np.concatenate(encoded)


def upsert_rest(base: str, ids: list[str], vectors: Any, payloads: list[dict[str, Any]]) -> None:
    """Setup through the Python client (the timed loops above send raw httpx on purpose)."""
    from nestvec.client import Client

    with Client(base) as api:
        api.create_collection(COLLECTION, encoder=ENCODER, index="hnsw")
        points = (
            {"id": i, "vector": v, "payload": p}
            for i, v, p in zip(ids, vectors, payloads, strict=True)
        )
        api.upload_points(COLLECTION, points, batch_size=256, progress=False)


def bench_search(
    base: str, work_dir: Path, docs: list[str], vectors: Any, qvecs: Any, concurrency: int
) -> list[Row]:
    """Single-query k-NN by vector: REST (concurrent clients) vs `Collection.search` in-process."""
    from index import Catalog, CollectionConfig

    ids, payloads = [str(i) for i in range(len(docs))], [{"title": d[:80]} for d in docs]
    upsert_rest(base, ids, vectors, payloads)
    path = f"/v1/collections/{COLLECTION}/search"
    bodies = [(path, {"query": {"vector": q.tolist()}, "k": K}) for q in qvecs]
    run_concurrent(base, bodies[:5], 1)  # warm-up
    rest, rest_lat, rest_hits = run_concurrent(base, bodies, concurrency)
    catalog = Catalog(work_dir)
    try:
        config = CollectionConfig(name=COLLECTION, dim=vectors.shape[1], encoder=ENCODER)
        collection = catalog.create(config)
        collection.upsert(ids, vectors, payloads)
        collection.search(qvecs[:1], K)  # warm-up
        local, local_lat, local_hits = timed(
            [lambda q=q: collection.search(q[None, :], K)[0] for q in qvecs]
        )
    finally:
        catalog.close()
    overlap = statistics.mean(
        len({h["id"] for h in r["results"]} & {h.id for h in loc}) / K
        for r, loc in zip(rest_hits, local_hits, strict=True)
    )
    print(f"top-{K} id overlap REST vs in-process: {overlap:.3f}")
    ms = 1000.0
    return [
        ("search throughput (queries/s)", len(qvecs) / rest, len(qvecs) / local),
        ("search latency p50 (ms)", ms * _pct(rest_lat, 50), ms * _pct(local_lat, 50)),
        ("search latency p99 (ms)", ms * _pct(rest_lat, 99), ms * _pct(local_lat, 99)),
    ]


def bench(args: argparse.Namespace, base: str, work_dir: Path) -> list[Row]:
    from encoders import EncoderPool

    docs = load_texts(args.data / "corpus.jsonl", args.docs, lambda r: f"{r['title']} {r['text']}")
    queries = load_texts(args.data / "queries.jsonl", args.queries, lambda r: r["text"])
    encoder = EncoderPool().get(ENCODER)
    embed_row, vectors = bench_embed(base, encoder, docs, args.concurrency)
    qvecs = encoder.encode(queries)
    return [embed_row, *bench_search(base, work_dir, docs, vectors, qvecs, args.concurrency)]


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))


def print_table(rows: Sequence[Row]) -> None:
    header = ("measurement", "REST", "in-process", "ratio REST÷in-process")
    cells = [header, *[(m, f"{r:.2f}", f"{loc:.2f}", f"{r / loc:.3f}") for m, r, loc in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        " | ".join([row[0].ljust(widths[0]), *(row[i].rjust(widths[i]) for i in range(1, 4))])
        for row in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500, help="SciFact abstracts (max 5183)")
    parser.add_argument("--queries", type=int, default=200, help="vector searches (max 1109)")
    parser.add_argument("--concurrency", type=int, default=8, help="REST client threads")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR scifact dir")
    args = parser.parse_args(argv)
    if not (1 <= args.docs <= 5183 and 1 <= args.queries <= 1109 and 1 <= args.concurrency <= 64):
        parser.error("bounds: 1 <= docs <= 5183, 1 <= queries <= 1109, 1 <= concurrency <= 64")
    with tempfile.TemporaryDirectory(prefix="nestvec-bench-") as tmp:
        server_dir, local_dir = Path(tmp) / "server", Path(tmp) / "local"
        server_dir.mkdir()
        print(
            f"cpus={os.cpu_count()} docs={args.docs} queries={args.queries} "
            f"concurrency={args.concurrency} batch={BATCH} k={K}"
        )
        with server(server_dir) as base:
            rows = bench(args, base, local_dir)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a REST search's time goes, step by step, against `Collection.search` alone.

Issue 18 asks REST batch search ÷ in-process batch search ≥ 0.8 and REST search ÷ `GET /healthz`
≥ 0.7. This splits both into the steps the server takes, each timed in process on the same
SciFact vectors as `bench_search.py` (hnsw, the collection's defaults, with_payload false):

- batch (100 queries a request): JSON parse of the body (orjson), request validation (pydantic),
  `Engine.search` (vector checks, grouping, the index call, hits), answer rendering (orjson);
- single: the same steps, then the whole app driven as ASGI (no socket, no uvicorn) for a
  search and for `/healthz`.

The ceiling column is `Collection.search` ÷ the sum of the steps: what REST could reach if the
HTTP transfer and the client cost nothing. Each time is the best of `--repeats` passes.

    .venv/bin/python loadtest/rest_breakdown.py [--n 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_search import load_scifact, table  # noqa: E402

from service.app import create_app  # noqa: E402
from service.responses import json_response  # noqa: E402
from service.routers import parse_json  # noqa: E402
from service.routers.search import _render  # noqa: E402
from service.schemas.collections import CreateCollectionRequest  # noqa: E402
from service.schemas.search import BatchSearchRequest, SearchRequest  # noqa: E402
from service.settings import Settings  # noqa: E402

K, BATCH = 10, 100


def best_ms(call: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return 1000 * best


class Asgi:
    """The app driven as uvicorn would, minus the socket: lifespan once, then one request per
    call (scope, body, response messages)."""

    def __init__(self, app: Any) -> None:
        self.app, self.state = app, {}

    async def start(self) -> None:
        started, queue = asyncio.Event(), asyncio.Queue()
        await queue.put({"type": "lifespan.startup"})

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                started.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._lifespan = asyncio.create_task(self.app(scope, queue.get, send))
        await started.wait()

    async def call(self, method: str, path: str, body: bytes = b"") -> int:
        headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "state": dict(self.state),
        }  # fmt: skip
        sent, status = False, 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # no disconnect while the route runs
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


async def measure(args: argparse.Namespace) -> tuple[list[list[str]], list[list[str]]]:
    ds = load_scifact(args.n, 1000, Path(args.cache_dir))
    data = tempfile.mkdtemp(prefix="nestvec-breakdown-")
    asgi = Asgi(create_app(Settings(data_dir=Path(data), preload_encoders=[])))
    await asgi.start()
    engine = asgi.state["engine"]
    spec = {"name": "b", "dim": ds.base.shape[1], "metric": ds.metric, "index": {"type": "hnsw"}}
    col = engine.create_collection(CreateCollectionRequest.model_validate(spec))
    for lo in range(0, len(ds.base), 5000):
        ids = [str(i) for i in range(lo, min(lo + 5000, len(ds.base)))]
        col.upsert(ids, ds.base[lo : lo + len(ids)], [{}] * len(ids))
    queries = [{"query": {"vector": q.tolist()}, "k": K, "with_payload": False} for q in ds.queries]
    bodies = [orjson.dumps({"searches": queries[i : i + BATCH]}) for i in range(0, 1000, BATCH)]
    parsed = [parse_json(b) for b in bodies]
    reqs = [BatchSearchRequest.model_validate(p) for p in parsed]
    fields = [f"searches[{i}].query" for i in range(BATCH)]
    answers = [engine.search("b", r.searches, fields) for r in reqs]

    def render() -> None:
        for hits, r in zip(answers, reqs, strict=True):
            rendered = [_render(h, q) for h, q in zip(hits, r.searches, strict=True)]
            json_response({"results": rendered})

    rep = args.repeats
    batch = {
        "JSON parse (orjson)": best_ms(lambda: [parse_json(b) for b in bodies], rep),
        "validation (pydantic)": best_ms(
            lambda: [BatchSearchRequest.model_validate(p) for p in parsed], rep
        ),
        "Engine.search": best_ms(
            lambda: [engine.search("b", r.searches, fields) for r in reqs], rep
        ),
        "answer (orjson)": best_ms(render, rep),
    }
    starts = range(0, 1000, BATCH)
    alone = best_ms(
        lambda: [col.search(ds.queries[i : i + BATCH], K, with_payload=False) for i in starts], rep
    )
    singles = [orjson.dumps(q) for q in queries]
    one = [SearchRequest.model_validate(parse_json(b)) for b in singles]
    single = {
        "JSON parse (orjson)": best_ms(lambda: [parse_json(b) for b in singles], rep),
        "validation (pydantic)": best_ms(
            lambda: [SearchRequest.model_validate(parse_json(b)) for b in singles], rep
        )
        - best_ms(lambda: [parse_json(b) for b in singles], rep),
        "Engine.search": best_ms(lambda: [engine.search("b", [r], ["query"]) for r in one], rep),
    }
    single_alone = best_ms(
        lambda: [col.search(q[None, :], K, with_payload=False) for q in ds.queries], rep
    )

    async def asgi_ms(method: str, path: str, bodies: list[bytes]) -> float:
        best = float("inf")
        for _ in range(rep):
            start = time.perf_counter()
            for body in bodies:
                assert await asgi.call(method, path, body) == 200
            best = min(best, time.perf_counter() - start)
        return 1000 * best

    search_asgi = await asgi_ms("POST", "/v1/collections/b/search", singles)
    healthz_asgi = await asgi_ms("GET", "/healthz", [b""] * len(singles))
    rows = [[name, f"{ms:.1f}"] for name, ms in batch.items()]
    total = sum(batch.values())
    rows += [["sum of the steps", f"{total:.1f}"], ["Collection.search alone", f"{alone:.1f}"]]
    rows.append(["ceiling: alone ÷ sum", f"{alone / total:.3f}"])
    srows = [[name, f"{ms:.1f}"] for name, ms in single.items()]
    srows += [["Collection.search alone", f"{single_alone:.1f}"]]
    srows += [["whole app as ASGI: POST search", f"{search_asgi:.1f}"]]
    srows += [["whole app as ASGI: GET /healthz", f"{healthz_asgi:.1f}"]]
    srows.append(["ASGI healthz ÷ ASGI search", f"{healthz_asgi / search_asgi:.3f}"])
    return rows, srows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="SciFact sentences indexed")
    parser.add_argument("--repeats", type=int, default=5, help="passes; the best is kept")
    parser.add_argument("--cache-dir", default="data/bench-cache", help="bench_search's cache")
    args = parser.parse_args()
    batch, single = asyncio.run(measure(args))
    print(f"rest_breakdown: n={args.n}, 1000 queries, k={K}; ms per 1000 queries")
    print(f"\nbatch search, {BATCH} queries a request\n")
    print(table(["step", "ms"], batch))
    print("\nsingle search, one query a request\n")
    print(table(["step", "ms"], single))


if __name__ == "__main__":
    main()

"""A k far past the collection, where NESTVEC_MAX_K allows it, costs what the collection holds:
a k of 2**31 with `rescore`, a funnel or an MMR history allocated k-wide arrays (24-48 GB: the
server was killed for memory). Each answer is every point once, as any k >= count gives."""

from __future__ import annotations

import re
import resource
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

K = 2**31
N = 50
V = "/v1/collections/{}"
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("search", {"query": {"vector": [1, 0]}, "k": K, "params": {"rescore": True}}),
    ("search", {"query": {"vector": [1, 0]}, "k": K, "funnel": {"dims": [1], "shortlist": K}}),
    ("search/batch", {"searches": [{"query": {"vector": [1, 0]}, "k": K}]}),
    ("recommend", {"positive": ["1"], "negative": ["2"], "strategy": "sum_scores", "k": K}),
    ("recommend", {"history": [{"id": "1"}, {"id": "5"}], "k": K, "mmr_lambda": 0.5}),
]


@pytest.fixture
def bounded_memory() -> Iterator[None]:
    """At most 4 GB more address space meanwhile: a regression fails with MemoryError (a 500)
    instead of taking the machine's memory."""
    status = Path("/proc/self/status").read_text()
    size = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + 4 * 1024**3, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.usefixtures("bounded_memory")
@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf", "faiss-hnsw"])
def test_a_k_past_the_collection_costs_what_it_holds(
    make_client: Callable[..., TestClient], index: str
) -> None:
    client = make_client(max_k=K)
    body = {"name": "c", "dim": 2, "index": {"type": index}}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": str(i), "vector": [1, i]} for i in range(N)]
    assert client.put("/v1/collections/c/points", json={"points": points}).status_code == 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path, request in CALLS:
        answer = client.post(f"/v1/collections/c/{path}", json=request)
        assert answer.status_code == 200, (path, answer.text)
        hits = answer.json()["results"]
        hits = hits[0] if path.endswith("batch") else hits
        assert N - 3 <= len(hits) <= N and len({h["id"] for h in hits}) == len(hits)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 1024**2  # under 1 GB (the k-wide arrays were 16 GB and more)

"""The Qdrant-compatible routes under concurrent mixed requests answer as they do alone."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

C = "/collections/qcon"


def _search(client: TestClient, vector: list[float], group: int) -> list[tuple[Any, float]]:
    body = {
        "query": vector,
        "limit": 5,
        "filter": {"must": [{"key": "g", "match": {"value": group}}]},
        "params": {"hnsw_ef": 64},
    }
    r = client.post(f"{C}/points/query", json=body)
    assert r.status_code == 200, r.text
    return [(p["id"], round(p["score"], 5)) for p in r.json()["result"]["points"]]


def test_mixed_concurrent_requests_match_the_same_requests_alone(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    r = client.put(C, json={"vectors": {"size": 8, "distance": "Cosine"}})
    assert r.status_code == 200, r.text
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(200, 8)).tolist()
    points = [{"id": i, "vector": v, "payload": {"g": i % 4}} for i, v in enumerate(vectors)]
    assert client.put(f"{C}/points?wait=true", json={"points": points}).status_code == 200
    queries = [(rng.normal(size=8).tolist(), k % 4) for k in range(24)]
    alone = [_search(client, q, g) for q, g in queries]

    def tag(i: int) -> None:  # payload-only writes on another key: searches must not change
        r = client.post(f"{C}/points/payload", json={"payload": {"tag": i}, "points": [i]})
        assert r.status_code == 200, r.text

    def count(group: int) -> int:
        body = {"filter": {"must": [{"key": "g", "match": {"value": group}}]}, "exact": True}
        return client.post(f"{C}/points/count", json=body).json()["result"]["count"]

    with ThreadPoolExecutor(8) as pool:
        searches = [pool.submit(_search, client, q, g) for q, g in queries]
        writes = [pool.submit(tag, i) for i in range(0, 200, 5)]
        counts = [pool.submit(count, g) for g in range(4)]
        assert [f.result() for f in searches] == alone
        for f in writes:
            f.result()
        assert [f.result() for f in counts] == [50, 50, 50, 50]
    tagged = client.post(
        f"{C}/points/count", json={"filter": {"must": [{"key": "tag", "range": {"gte": 0}}]}}
    )
    assert tagged.json()["result"]["count"] == 40

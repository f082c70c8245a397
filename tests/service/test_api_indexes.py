"""Index backends over REST: selection, persistence, IVF training, batch search, count, deletes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error, create_docs

DIM = 16
VECTORS = np.random.default_rng(5).normal(size=(400, DIM)).astype(np.float32)
BACKENDS = {
    "hnsw": {"M": 16},
    "flat": {},
    "faiss-hnsw": {"M": 16, "ef": 128},
    "ivf": {"nlist": 4, "nprobe": 4},
    "ivfpq": {"nlist": 2, "m": 4, "nbits": 4, "nprobe": 2},
    "milvus": {"M": 16},  # Milvus Lite in DATA_DIR/milvus.db (no NESTVEC_MILVUS_URI set)
}


def load(client: TestClient, name: str, index_type: str, params: dict, n: int = 400) -> None:
    body = {
        "name": name,
        "dim": DIM,
        "metric": "l2",
        "index": {"type": index_type, "params": params},
    }
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [
        {"id": f"p{i}", "vector": VECTORS[i].tolist(), "payload": {"even": i % 2 == 0, "i": i}}
        for i in range(n)
    ]
    client.put(f"/v1/collections/{name}/points", json={"points": points}).raise_for_status()


def search_ids(client: TestClient, name: str, body: dict) -> list[str]:
    r = client.post(f"/v1/collections/{name}/search", json=body)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


@pytest.mark.parametrize("index_type", list(BACKENDS))
def test_backend_selectable_and_persistent(
    make_client: Callable[..., TestClient], index_type: str
) -> None:
    client = make_client()
    load(client, "c", index_type, BACKENDS[index_type])
    info = client.get("/v1/collections/c").json()
    assert info["index"]["type"] == index_type and info["count"] == 400
    queries = [
        {"query": {"vector": VECTORS[i].tolist()}, "k": 5, "params": {"rescore": True}}
        for i in range(10)
    ]
    before = [search_ids(client, "c", q) for q in queries]
    assert [ids[0] for ids in before] == [f"p{i}" for i in range(10)]  # each finds itself first
    client.__exit__(None, None, None)
    again = make_client()
    assert [search_ids(again, "c", q) for q in queries] == before


def test_ivf_trains_when_enough_points_and_says_how_many(client: TestClient) -> None:
    load(client, "ivf", "ivf", {"nlist": 8}, n=100)  # 39 x 8 = 312 needed
    r = client.post("/v1/collections/ivf/train")
    assert_error(r, 409, "not_enough_points", "index.params")
    assert "needs at least 312 vectors" in r.json()["message"] and "has 100" in r.json()["message"]
    exact = search_ids(client, "ivf", {"query": {"vector": VECTORS[0].tolist()}, "k": 3})
    assert exact[0] == "p0"  # untrained: answered exactly
    more = [{"id": f"q{i}", "vector": VECTORS[i].tolist()} for i in range(100, 320)]
    client.put("/v1/collections/ivf/points", json={"points": more}).raise_for_status()
    assert client.post("/v1/collections/ivf/train").json() == {"trained": True, "count": 320}
    assert client.post("/v1/collections/hnsw-free/train").status_code == 404


def test_ivfpq_params_are_checked_against_dim(client: TestClient) -> None:
    body = {"name": "pq", "dim": DIM, "index": {"type": "ivfpq", "params": {"m": 5}}}
    r = client.post("/v1/collections", json=body)
    assert_error(r, 422, "invalid_index_params", "index.params")
    assert "m=5 must divide the dimension 16" in r.json()["message"]
    body["index"]["params"] = {"nprobe": 0}
    assert_error(
        client.post("/v1/collections", json=body),
        422,
        "invalid_index_params",
        "index.params.nprobe",
    )


def test_batch_search_equals_single_searches(client: TestClient) -> None:
    create_docs(client)
    searches = [
        {"query": {"text": "kitten"}, "k": 2},
        {"query": {"id": "stocks"}, "k": 1},
        {
            "query": {"text": "money"},
            "k": 3,
            "filter": {"must": [{"key": "topic", "match": {"value": "pets"}}]},
        },
        {"query": {"text": "puppy"}, "k": 4, "with_payload": False},
    ]
    r = client.post("/v1/collections/docs/search/batch", json={"searches": searches})
    batch = r.json()["results"]
    singles = [
        client.post("/v1/collections/docs/search", json=s).json()["results"] for s in searches
    ]
    assert [[h["id"] for h in b] for b in batch] == [[h["id"] for h in s] for s in singles]
    assert [len(b) for b in batch] == [2, 1, 2, 4]
    assert "payload" not in batch[3][0] and "payload" in batch[0][0]
    bad = {"searches": [{"query": {"text": "x"}}, {"query": {"vector": [1.0]}}]}
    r = client.post("/v1/collections/docs/search/batch", json=bad)
    assert_error(r, 422, "dimension_mismatch", "searches[1].query.vector")
    r = client.post(
        "/v1/collections/docs/search/batch",
        json={"searches": [{"query": {"text": "x"}, "k": 10**6}]},
    )
    assert_error(r, 422, "limit_exceeded", "searches[0].k")


def test_batch_searches_of_different_k_answer_as_alone(client: TestClient) -> None:
    """A batch grouped searches of different k under the largest k's beam, so a k=1 search
    answered from a wider beam than it gets alone (21 of 40 differed on hnsw)."""
    load(client, "narrow", "hnsw", {"M": 4, "ef_construction": 8, "ef": 1})
    queries = np.random.default_rng(6).normal(size=(30, DIM)).round(3)
    searches = [
        {"query": {"vector": q.tolist()}, "k": 1 if i % 2 else 200} for i, q in enumerate(queries)
    ]
    r = client.post("/v1/collections/narrow/search/batch", json={"searches": searches})
    batch = [[h["id"] for h in row] for row in r.json()["results"]]
    assert batch == [search_ids(client, "narrow", s) for s in searches]


def test_count_and_delete_by_filter(client: TestClient) -> None:
    load(client, "c", "hnsw", {}, n=100)
    assert client.post("/v1/collections/c/count").json() == {"count": 100}
    even = {"must": [{"key": "even", "match": {"value": True}}]}
    assert client.post("/v1/collections/c/count", json={"filter": even}).json() == {"count": 50}
    low = {"must": [{"key": "i", "range": {"lt": 10}}]}
    r = client.request("DELETE", "/v1/collections/c/points", json={"filter": low, "ids": ["p99"]})
    assert r.json() == {"deleted": 11}
    assert client.post("/v1/collections/c/count").json() == {"count": 89}
    assert client.post("/v1/collections/c/count", json={"filter": even}).json() == {"count": 45}
    found = search_ids(client, "c", {"query": {"vector": VECTORS[0].tolist()}, "k": 100})
    assert not {f"p{i}" for i in range(10)} & set(found) and len(found) == 89
    bad = {"filter": {"must": [{"key": "i", "match": {"regex": "x"}}]}}
    assert_error(client.post("/v1/collections/c/count", json=bad), 422, "invalid_filter", "filter")

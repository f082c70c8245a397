"""Funnel search through the REST API on real vectors (MNIST digits, 784-d, PCA-rotated).

The rotation (an orthogonal map: distances unchanged) puts the high-variance directions first,
so prefixes mean something, as they do for a Matryoshka encoder.

A funnel whose shortlist covers the collection is exact search; filters and writes still apply;
bad funnels are 4xx with stable codes; the recall report covers each tier and the funnel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DATA, assert_error

from encoders.mrl.adapter import pca_rotation

N = 1000
MNIST_DIR = DATA / "ann_mnist10k"
pytestmark = pytest.mark.skipif(not MNIST_DIR.exists(), reason="../shared/data not present")


def read_bvecs(path: Path, n: int) -> np.ndarray:
    """.bvecs: per vector an int32 dimension, then that many uint8 values."""
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view(np.int32)[0])
    return raw.reshape(-1, dim + 4)[:n, 4:].astype(np.float32) / 255.0


ROTATION = pca_rotation(read_bvecs(MNIST_DIR / "base.bvecs", N))
BASE = read_bvecs(MNIST_DIR / "base.bvecs", N) @ ROTATION.T
QUERIES = read_bvecs(MNIST_DIR / "query.bvecs", 12) @ ROTATION.T
DIGITS = (MNIST_DIR / "labels.txt").read_text().split()[:N]


def load(client: TestClient, name: str, metric: str) -> None:
    body = {"name": name, "dim": BASE.shape[1], "metric": metric, "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    for start in range(0, N, 500):
        points = [
            {"id": str(i), "vector": BASE[i].tolist(), "payload": {"digit": DIGITS[i]}}
            for i in range(start, min(start + 500, N))
        ]
        r = client.put(f"/v1/collections/{name}/points", json={"points": points})
        assert r.status_code == 200, r.text


def search(client: TestClient, name: str, **extra: Any) -> list[list[str]]:
    body = {"searches": [{"query": {"vector": q.tolist()}, "k": 10, **extra} for q in QUERIES]}
    r = client.post(f"/v1/collections/{name}/search/batch", json=body)
    assert r.status_code == 200, r.text
    return [[hit["id"] for hit in row] for row in r.json()["results"]]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_funnel_with_whole_collection_shortlist_is_exact(client: TestClient, metric: str) -> None:
    load(client, "digits", metric)
    exact = search(client, "digits")
    assert search(client, "digits", funnel={"dims": [32], "shortlist": N}) == exact
    cascade = {"dims": [16, 64, 256], "shortlist": [N, N, N]}
    assert search(client, "digits", funnel=cascade) == exact
    # a short list is an approximation, but a real one: most true neighbours survive
    short = search(client, "digits", funnel={"dims": [64], "shortlist": 100})
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(short, exact, strict=True)])
    assert 0.5 < overlap <= 1.0


def test_funnel_applies_filters_and_follows_writes(client: TestClient) -> None:
    load(client, "digits", "cosine")
    flt = {"must": [{"key": "digit", "match": {"value": "3"}}]}
    funnel = {"dims": [64], "shortlist": N}
    assert search(client, "digits", filter=flt, funnel=funnel) == search(
        client, "digits", filter=flt
    )
    threes = {str(i) for i, d in enumerate(DIGITS) if d == "3"}
    assert set().union(*search(client, "digits", filter=flt, funnel=funnel)) <= threes

    query = {"query": {"vector": QUERIES[0].tolist()}, "k": 3, "funnel": funnel}
    first = client.post("/v1/collections/digits/search", json=query).json()["results"][0]["id"]
    client.request("DELETE", "/v1/collections/digits/points", json={"ids": [first]})
    after = [
        h["id"] for h in client.post("/v1/collections/digits/search", json=query).json()["results"]
    ]
    assert first not in after
    point = {"id": "copy", "vector": QUERIES[0].tolist()}
    client.put("/v1/collections/digits/points", json={"points": [point]})
    top = client.post("/v1/collections/digits/search", json=query).json()["results"][0]
    assert top["id"] == "copy" and top["score"] == pytest.approx(1.0, abs=1e-5)


def test_bad_funnels_are_422(client: TestClient) -> None:
    load(client, "digits", "cosine")
    url, vector = "/v1/collections/digits/search", BASE[0].tolist()
    for funnel, code, field in [
        ({"dims": [784]}, "invalid_dimension", "funnel.dims"),
        ({"dims": [0]}, "invalid_dimension", "funnel.dims"),
        ({"dims": [64, 32]}, "invalid_dimension", "funnel.dims"),
        ({"dims": [32, 64], "shortlist": [100]}, "invalid_funnel", "funnel.shortlist"),
        ({"dims": [32], "shortlist": 0}, "invalid_funnel", "funnel.shortlist"),
    ]:
        r = client.post(url, json={"query": {"vector": vector}, "funnel": funnel})
        assert_error(r, 422, code, field)
    r = client.post(url, json={"query": {"vector": vector}, "funnel": {"dims": []}})
    assert_error(r, 422, "validation_error")
    batch = {
        "searches": [
            {"query": {"vector": vector}},
            {"query": {"vector": vector}, "funnel": {"dims": [999]}},
        ]
    }
    assert_error(
        client.post(url + "/batch", json=batch), 422, "invalid_dimension", "searches[1].funnel.dims"
    )


def test_funnel_on_a_non_matryoshka_encoder_is_refused(client: TestClient) -> None:
    body = {"name": "docs", "encoder": "minilm", "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    point = {"id": "a", "vector": [1.0] + [0.0] * 383}
    assert client.put("/v1/collections/docs/points", json={"points": [point]}).status_code == 200
    r = client.post(
        "/v1/collections/docs/search",
        json={"query": {"vector": point["vector"]}, "funnel": {"dims": [64]}},
    )
    assert_error(r, 422, "invalid_dimension", "funnel.dims")
    r = client.post("/v1/collections/docs/analysis/funnel", json={})
    assert_error(r, 422, "invalid_dimension")


def test_funnel_recall_report(client: TestClient) -> None:
    load(client, "digits", "cosine")
    body = {"dims": [16, 128], "shortlist": N, "queries": 20}
    r = client.post("/v1/collections/digits/analysis/funnel", json=body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["k"] == 10 and report["queries"] == 20 and report["dim"] == 784
    tiers = {t["dim"]: t["recall"] for t in report["tiers"]}
    assert set(tiers) == {16, 128} and 0 < tiers[16] < tiers[128] < 1
    funnels = {tuple(f["dims"]): f["recall"] for f in report["funnels"]}
    assert funnels == {(16,): 1.0, (128,): 1.0, (16, 128): 1.0}  # the shortlist is everything
    png = client.get(report["plot_url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    small = client.post("/v1/collections/digits/analysis/funnel", json={**body, "shortlist": 30})
    assert small.json()["funnels"][0]["recall"] < 1.0
    # a shortlist below k is searched as k: shown as k (it said 3, with k's recall)
    narrow = {**body, "shortlist": 3, "dims": [16]}
    shown = client.post("/v1/collections/digits/analysis/funnel", json=narrow).json()
    assert shown["funnels"][0]["shortlist"] == 10
    assert shown["funnels"][0]["recall"] == shown["tiers"][0]["recall"]
    full = client.post("/v1/collections/digits/analysis/funnel", json={**body, "dims": [16, 784]})
    assert_error(full, 422, "invalid_dimension", "dims[1]")  # a tier must be below the dim

"""Matryoshka dimensions through the REST API: only nested dims, outputs renormalised, 422 else.

Runs on a data dir without trained models: `minilm-mrl` serves its fallback (the base model) and
says so; `minilm-mrl-adapter` uses the adapter committed in the package.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error

TEXTS = ["Aspirin lowers the risk of heart attack.", "Vitamin D deficiency weakens bones."]
NESTED = [384, 256, 128, 64, 32]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mrl-dims")  # one dir: the pool loads each encoder once


@pytest.fixture
def api(make_client: Callable[..., TestClient], data_dir: Path) -> TestClient:
    return make_client(data_dir=data_dir)


def embed(api: TestClient, encoder: str, dim: int | None) -> np.ndarray:
    r = api.post("/v1/embed", json={"encoder": encoder, "inputs": TEXTS, "dim": dim})
    assert r.status_code == 200, r.text
    return np.asarray(r.json()["embeddings"], np.float32)


def test_encoders_declare_nested_dims_and_artifacts(api: TestClient, data_dir: Path) -> None:
    listed = {e["name"]: e for e in api.get("/v1/encoders").json()["encoders"]}
    mrl, adapter = listed["minilm-mrl"], listed["minilm-mrl-adapter"]
    assert mrl["nested_dims"] == NESTED and adapter["nested_dims"] == NESTED
    assert mrl["artifact"] == {
        "available": False,
        "path": "minilm-mrl",  # relative to the models dir: no server path shown
        "train_command": "nestvec train mrl --mode finetune",
        "fallback": "minilm",
    }
    assert adapter["artifact"]["available"] and adapter["artifact"]["packaged"]
    assert listed["minilm"]["nested_dims"] == [384]


@pytest.mark.parametrize("encoder", ["minilm-mrl", "minilm-mrl-adapter"])
def test_embed_truncates_to_nested_dims_and_renormalises(api: TestClient, encoder: str) -> None:
    full = embed(api, encoder, None)
    assert full.shape == (2, 384)
    for dim in NESTED[1:]:
        short = embed(api, encoder, dim)
        assert short.shape == (2, dim)
        np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)
        prefix = full[:, :dim] / np.linalg.norm(full[:, :dim], axis=1, keepdims=True)
        np.testing.assert_allclose(short, prefix, atol=1e-5)
    for dim in (100, 0, 512):
        r = api.post("/v1/embed", json={"encoder": encoder, "inputs": TEXTS, "dim": dim})
        assert_error(r, 422, "invalid_dimension", "dim")


def test_openai_dimensions(api: TestClient) -> None:
    body = {"model": "minilm-mrl", "input": TEXTS, "dimensions": 32}
    r = api.post("/v1/embeddings", json=body)
    assert r.status_code == 200, r.text
    assert [len(d["embedding"]) for d in r.json()["data"]] == [32, 32]
    assert_error(
        api.post("/v1/embeddings", json={**body, "dimensions": 48}), 400, "invalid_dimension"
    )
    r = api.post("/v1/embeddings", json={**body, "model": "minilm", "dimensions": 64})
    assert_error(r, 400, "invalid_dimension")  # OpenAI's status for a refusal


def test_collections_take_nested_dims_and_funnel_through_them(api: TestClient) -> None:
    body = {"name": "claims", "encoder": "minilm-mrl-adapter", "dim": 100}
    assert_error(api.post("/v1/collections", json=body), 422, "invalid_dimension", "dim")
    r = api.post("/v1/collections", json={**body, "dim": 128, "index": {"type": "flat"}})
    assert r.status_code == 201 and r.json()["dim"] == 128, r.text
    points = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
    assert api.put("/v1/collections/claims/points", json={"points": points}).status_code == 200
    query = {"query": {"text": "bone health"}, "k": 2}
    exact = api.post("/v1/collections/claims/search", json=query).json()["results"]
    r = api.post("/v1/collections/claims/search", json={**query, "funnel": {"dims": [32, 64]}})
    assert r.status_code == 200, r.text
    assert [h["id"] for h in r.json()["results"]] == [h["id"] for h in exact] == ["1", "0"]
    for dims in ([48], [128], [256]):  # not nested, or not below the collection's 128
        r = api.post("/v1/collections/claims/search", json={**query, "funnel": {"dims": dims}})
        assert_error(r, 422, "invalid_dimension", "funnel.dims")

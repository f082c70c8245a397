"""moe-minilm over REST: domains per request or per input, router-chosen routing, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error

from encoders import EncoderPool
from encoders.moe.data import DOMAINS
from service.app import create_app
from service.settings import Settings

TEXTS = [
    "Vitamin D deficiency is associated with higher fracture risk.",
    "Does eating red meat raise the risk of colon cancer?",
    "Yankees beat Red Sox 5-3 in extra innings",
]


@pytest.fixture
def moe_client(make_client: Callable[..., TestClient], tiny_data_dir: Path) -> TestClient:
    return make_client(data_dir=tiny_data_dir)


def _embed(client: TestClient, **body: object) -> dict:
    r = client.post("/v1/embed", json={"encoder": "moe-minilm", "inputs": TEXTS, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_encoders_lists_domains_and_artifact(moe_client: TestClient) -> None:
    listed = {e["name"]: e for e in moe_client.get("/v1/encoders").json()["encoders"]}
    moe = listed["moe-minilm"]
    assert moe["domains"] == list(DOMAINS) and moe["dim"] == 384 and moe["nested_dims"] == [384]
    assert moe["artifact"]["available"] is True
    assert moe["artifact"]["train_command"] == "nestvec train moe"


def test_embed_with_one_domain_and_per_input(moe_client: TestClient) -> None:
    one = _embed(moe_client, domain="scifact")
    assert [i["domain"] for i in one["items"]] == ["scifact"] * 3
    assert all(i["routed_by"] == "request" and "router_probs" not in i for i in one["items"])
    vectors = np.array(one["embeddings"])
    assert vectors.shape == (3, 384)
    # written as float32 (9 digits at most), as every encoder's: float64 made the answer 1.7x
    assert max(len(repr(v)) for row in one["embeddings"] for v in row) <= 16
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    per_input = _embed(moe_client, domain=["scifact", "nfcorpus", "news"])
    assert [i["domain"] for i in per_input["items"]] == ["scifact", "nfcorpus", "news"]
    # the first input took the same expert both times, so the same vector
    np.testing.assert_allclose(per_input["embeddings"][0], one["embeddings"][0], atol=1e-5)


def test_embed_without_domain_reports_router_choice(
    float32_pool: EncoderPool, tiny_data_dir: Path
) -> None:
    settings = Settings(data_dir=tiny_data_dir, preload_encoders=[])
    with TestClient(create_app(settings, float32_pool)) as moe_client:
        _router_choice_is_the_expert_used(moe_client)


def _router_choice_is_the_expert_used(moe_client: TestClient) -> None:
    body = _embed(moe_client)
    for item, vector in zip(body["items"], body["embeddings"], strict=True):
        probs = item["router_probs"]
        assert item["routed_by"] == "router" and list(probs) == list(DOMAINS)
        assert abs(sum(probs.values()) - 1) < 1e-4
        assert item["domain"] == max(probs, key=probs.get)
        enforced = _embed_one(
            moe_client, vector_of=TEXTS[body["items"].index(item)], domain=item["domain"]
        )
        np.testing.assert_allclose(vector, enforced, atol=1e-5)


def _embed_one(client: TestClient, vector_of: str, domain: str) -> list[float]:
    r = client.post(
        "/v1/embed", json={"encoder": "moe-minilm", "inputs": [vector_of], "domain": domain}
    )
    return r.json()["embeddings"][0]


def test_unknown_domain_is_422_listing_domains(moe_client: TestClient) -> None:
    r = moe_client.post(
        "/v1/embed", json={"encoder": "moe-minilm", "inputs": TEXTS, "domain": "law"}
    )
    assert_error(r, 422, "invalid_input", "domain")
    assert all(d in r.json()["message"] for d in DOMAINS)
    r = moe_client.post(
        "/v1/embed",
        json={"encoder": "moe-minilm", "inputs": TEXTS, "domain": ["scifact", "law", "news"]},
    )
    assert_error(r, 422, "invalid_input", "domain[1]")
    r = moe_client.post(
        "/v1/embed", json={"encoder": "moe-minilm", "inputs": TEXTS, "domain": ["scifact"]}
    )
    assert_error(r, 422, "invalid_input", "domain")
    body = {"name": "bad", "encoder": "moe-minilm", "domain": "law"}
    assert_error(moe_client.post("/v1/collections", json=body), 422, "invalid_input", "domain")


def test_missing_artifact_is_409_naming_the_command(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(data_dir=tmp_path / "empty")
    listed = {e["name"]: e for e in client.get("/v1/encoders").json()["encoders"]}
    assert listed["moe-minilm"]["artifact"]["available"] is False
    r = client.post("/v1/embed", json={"encoder": "moe-minilm", "inputs": ["x"]})
    assert_error(r, 409, "model_not_trained")
    assert "nestvec train moe" in r.json()["message"]
    body = {"name": "docs", "encoder": "moe-minilm"}
    assert_error(client.post("/v1/collections", json=body), 409, "model_not_trained")


def test_collection_domain_and_query_domain(moe_client: TestClient) -> None:
    body = {"name": "claims", "encoder": "moe-minilm", "domain": "scifact"}
    assert moe_client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
    r = moe_client.put("/v1/collections/claims/points", json={"points": points})
    assert r.json() == {"upserted": 3}
    query = "fracture risk and vitamin D"
    search = {"query": {"text": query}, "k": 3, "domain": "nfcorpus", "with_vector": True}
    hits = moe_client.post("/v1/collections/claims/search", json=search).json()["results"]
    docs = _embed(moe_client, domain="scifact")["embeddings"]  # stored with the collection's
    q = np.array(_embed_one(moe_client, query, "nfcorpus"))  # the query with its own domain
    for hit in hits:
        np.testing.assert_allclose(hit["vector"], docs[int(hit["id"])], atol=1e-5)
        assert abs(hit["score"] - float(q @ np.array(docs[int(hit["id"])]))) < 1e-4
    assert hits[0]["id"] == "0"


def test_the_served_fingerprint_is_the_trained_folders(tiny_data_dir: Path) -> None:
    """What ingest records (the folder hashed) is what the service serves: a collection built
    offline stays writable by text, and a retrained model is noticed."""
    from encoders.registry import encoder_fingerprint

    models = tiny_data_dir / "models"
    served = EncoderPool().get("moe-minilm", models).fingerprint
    assert served == encoder_fingerprint("moe-minilm", models)
    assert served != encoder_fingerprint("moe-minilm", models.parent / "elsewhere")


def test_an_offline_build_into_a_domain_collection_encodes_with_its_domain(
    make_client: Callable[..., TestClient], tiny_data_dir: Path, tmp_path: Path
) -> None:
    """`nestvec ingest` into a collection created with `domain` let the router pick instead
    (found from outside: 300 of 300 points nearer the router's vector than the domain's)."""
    import json
    import subprocess
    import sys

    models, data = tiny_data_dir / "models", tmp_path / "data"
    client = make_client(data_dir=data, models_dir=models)
    body = {"name": "sp", "encoder": "moe-minilm", "domain": "news"}
    assert client.post("/v1/collections", json=body).status_code == 201
    client.__exit__(None, None, None)
    source = tmp_path / "docs.jsonl"
    source.write_text(
        "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(TEXTS))
    )
    cmd = [
        str(Path(sys.executable).parent / "nestvec"),
        "ingest",
        str(source),
        "--collection",
        "sp",
    ]
    env = {"NESTVEC_MODELS_DIR": str(models), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [*cmd, "--data-dir", str(data), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    client = make_client(data_dir=data, models_dir=models)
    ids = [str(i) for i in range(len(TEXTS))]
    got = client.get("/v1/collections/sp/points", params={"ids": ids, "with_vector": True}).json()
    stored = np.array([p["vector"] for p in got["points"]])
    news = np.array(_embed(client, domain="news")["embeddings"])
    routed = np.array(_embed(client)["embeddings"])
    assert np.all(np.sum(stored * news, 1) > np.sum(stored * routed, 1) - 1e-6)
    np.testing.assert_allclose(stored, news, atol=5e-3)  # bfloat16 batching noise


def test_a_search_domain_names_its_own_search_and_needs_a_text_query(
    moe_client: TestClient,
) -> None:
    """In a batch an unknown domain said `domain`, not which search; on an id query it was
    accepted and ignored."""
    body = {"name": "dq", "encoder": "moe-minilm", "domain": "scifact"}
    assert moe_client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
    assert moe_client.put("/v1/collections/dq/points", json={"points": points}).status_code == 200
    text = {"query": {"text": "vitamin D"}}
    batch = {"searches": [{**text, "domain": "news"}, {**text, "domain": "nosuch"}]}
    answer = moe_client.post("/v1/collections/dq/search/batch", json=batch)
    assert_error(answer, 422, "invalid_input", "searches[1].domain")
    by_id = {"query": {"id": "0"}, "domain": "news"}
    answer = moe_client.post("/v1/collections/dq/search", json=by_id)
    assert_error(answer, 422, "invalid_input", "domain")

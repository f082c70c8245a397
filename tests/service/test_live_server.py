"""`nestvec serve` as a subprocess: restart keeps answers; the official OpenAI SDK works."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from support import LiveServer

TEXTS = ["The mitochondria is the powerhouse of the cell.", "Interest rates rose again."]


def test_restart_same_data_dir_same_answers(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data").start()
    try:
        api = httpx.Client(base_url=server.url, timeout=60)
        for name, index in (("h", "hnsw"), ("f", "flat")):
            body = {"name": name, "encoder": "fake", "index": {"type": index}}
            assert api.post("/v1/collections", json=body).status_code == 201
            points = [{"id": f"d{i}", "text": t, "payload": {"i": i}} for i, t in enumerate(TEXTS)]
            api.put(f"/v1/collections/{name}/points", json={"points": points}).raise_for_status()
        api.request("DELETE", "/v1/collections/h/points", params={"ids": "d1"}).raise_for_status()
        query = {"query": {"text": "cell biology"}, "k": 5}
        before = {n: api.post(f"/v1/collections/{n}/search", json=query).json() for n in "hf"}
    finally:
        server.stop()
    # graceful shutdown ran the lifespan's close, which writes the index snapshots
    assert (tmp_path / "data" / "collections" / "h" / "index" / "index.json").exists()
    server = LiveServer(tmp_path / "data").start()
    try:
        api = httpx.Client(base_url=server.url, timeout=60)
        after = {n: api.post(f"/v1/collections/{n}/search", json=query).json() for n in "hf"}
        assert after == before
        assert [r["id"] for r in after["h"]["results"]] == ["d0"]
        names = [c["name"] for c in api.get("/v1/collections").json()["collections"]]
        assert names == ["f", "h"]
    finally:
        server.stop()


def test_official_openai_client(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused", max_retries=0)
    default = client.embeddings.create(model="fake", input=TEXTS)  # the SDK asks for base64
    floats = client.embeddings.create(model="fake", input=TEXTS, encoding_format="float")
    assert default.model == "fake" and len(default.data) == 2
    assert default.usage.prompt_tokens == default.usage.total_tokens > 0
    a = np.array([d.embedding for d in default.data])
    b = np.array([d.embedding for d in floats.data])
    assert a.shape == (2, 64)
    np.testing.assert_allclose(a, b, atol=1e-6)
    native = httpx.post(live_server.url + "/v1/embed", json={"encoder": "fake", "inputs": TEXTS})
    np.testing.assert_allclose(a, native.json()["embeddings"], atol=1e-5)
    single = client.embeddings.create(model="fake", input=TEXTS[0], dimensions=64)
    assert len(single.data[0].embedding) == 64
    with pytest.raises(openai.BadRequestError) as caught:  # OpenAI's 400 (it was a 422)
        client.embeddings.create(model="fake", input="x", dimensions=128)
    # the SDK reads OpenAI's error object: param and type were None
    error = caught.value
    assert (error.code, error.param, error.type) == (
        "invalid_dimension",
        "dimensions",
        "invalid_request_error",
    )
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert missing.value.param == "model" and "text-embedding-3-small" in str(missing.value)
    assert missing.value.code == "model_not_found"  # OpenAI's code; nestvec's stays beside it
    # a model not trained yet: a 409 the SDK sent twice more, with backoff, before raising
    sent: list[str] = []
    counted = httpx.Client(event_hooks={"request": [lambda r: sent.append(r.url.path)]})
    retrying = openai.OpenAI(base_url=live_server.url + "/v1", api_key="-", http_client=counted)
    with pytest.raises(openai.BadRequestError) as untrained:
        retrying.embeddings.create(model="graph-cora", input="x")
    assert untrained.value.code == "model_not_trained" and sent == ["/v1/embeddings"]

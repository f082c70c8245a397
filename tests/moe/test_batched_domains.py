"""moe-minilm goes through the batch handler: calls with different domains at once share its
queue, one model call per domain group, and each answer equals the same request alone
(cosine >= 0.9999: batch composition changes padding, hence the last float bits)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from encoders import EncoderPool
from encoders.moe.data import DOMAINS
from service.app import create_app
from service.settings import Settings

TEXTS = [
    "Vitamin D deficiency is associated with higher fracture risk.",
    "Yankees beat Red Sox 5-3 in extra innings",
    "Oil prices climb as OPEC cuts output after a long meeting of its members in Vienna",
]


def _bodies() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = [
        {"encoder": "moe-minilm", "inputs": [t], **({"domain": d} if d else {})}
        for t in TEXTS
        for d in [*DOMAINS, None]
    ]
    per_input = [DOMAINS[i % len(DOMAINS)] for i in range(len(TEXTS))]
    return [*bodies, {"encoder": "moe-minilm", "inputs": TEXTS, "domain": per_input}]


def test_domains_share_the_batch_handler(encoder_pool: EncoderPool, tiny_data_dir: Path) -> None:
    settings = Settings(data_dir=tiny_data_dir, preload_encoders=[], batch_max_wait_ms=20)
    with TestClient(create_app(settings, encoder_pool)) as client:
        bodies = _bodies()
        alone = [client.post("/v1/embed", json=b).json() for b in bodies]
        batcher = client.app_state["engine"].batcher("moe-minilm")
        items, batches = batcher.items, batcher.batches
        calls = [i for i in range(len(bodies)) for _ in range(4)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda i: client.post("/v1/embed", json=bodies[i]), calls))
        for i, r in zip(calls, answers, strict=True):
            assert r.status_code == 200, r.text
            got, want = r.json(), alone[i]
            assert [it["domain"] for it in got["items"]] == [it["domain"] for it in want["items"]]
            x, y = np.asarray(got["embeddings"]), np.asarray(want["embeddings"])
            assert (
                (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
            ).min() >= 0.9999
        assert batcher.items - items == sum(len(bodies[i]["inputs"]) for i in calls)
        assert batcher.batches - batches < len(calls)  # requests of one domain shared calls

"""moe-minilm goes through the batch handler: calls with different domains at once share its
queue and its model calls (each mixture layer runs each expert on its own rows), and each answer
equals the same request alone (cosine >= 0.9999: batch composition changes padding, hence the
last float bits)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from encoders import EncoderPool, InvalidInput
from encoders.moe.data import DOMAINS
from encoders.moe.encoder import MoEMiniLMEncoder
from service.app import create_app
from service.batching import EncodeBatcher
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
        assert batcher.batches - batches < len(calls)  # requests shared calls


def _cosines(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)


def test_different_domains_share_one_model_call(tiny_data_dir: Path) -> None:
    """Jobs that differ only in their domain are one length-sorted model call, and each answer
    (vector and the expert it went through) equals the job encoded on its own."""
    encoder = MoEMiniLMEncoder(models_dir=tiny_data_dir / "models")
    jobs = [([t], DOMAINS[i % len(DOMAINS)]) for i, t in enumerate(TEXTS * 2)]
    jobs.append((TEXTS, [DOMAINS[-1], DOMAINS[0], DOMAINS[1]]))  # one domain per input
    alone = [encoder.encode_items(texts, domain=domain) for texts, domain in jobs]
    batcher = EncodeBatcher(encoder, max_batch=64, max_wait_ms=2000)
    try:
        futures = [batcher.submit(texts, None, "items", domain=d) for texts, d in jobs]
        answers = [f.result(timeout=120) for f in futures]
        assert batcher.batches == 1  # all jobs arrived within the wait: one call for all
    finally:
        batcher.close()
    for (vectors, items), (want_vectors, want_items) in zip(answers, alone, strict=True):
        assert [it["domain"] for it in items] == [it["domain"] for it in want_items]
        assert _cosines(vectors, want_vectors).min() >= 0.9999


def test_a_bad_domain_fails_only_its_own_job(tiny_data_dir: Path) -> None:
    """An unknown domain, or a per-input list of the wrong length, merged with good jobs: those
    jobs get their error (naming the field), the others their vectors."""
    encoder = MoEMiniLMEncoder(models_dir=tiny_data_dir / "models")
    batcher = EncodeBatcher(encoder, max_batch=64, max_wait_ms=2000)
    try:
        good = batcher.submit([TEXTS[0]], None, "vectors", domain=DOMAINS[0])
        unknown = batcher.submit([TEXTS[1]], None, "vectors", domain="no-such-domain")
        short = batcher.submit(TEXTS, None, "vectors", domain=[DOMAINS[0]])
        also_good = batcher.submit([TEXTS[2]], None, "vectors", domain=[DOMAINS[1]])
        want = encoder.encode([TEXTS[0]], domain=DOMAINS[0])
        assert _cosines(good.result(timeout=120), want).min() >= 0.9999
        want = encoder.encode([TEXTS[2]], domain=DOMAINS[1])
        assert _cosines(also_good.result(timeout=120), want).min() >= 0.9999
        with pytest.raises(InvalidInput) as bad:
            unknown.result(timeout=120)
        assert bad.value.field == "domain"
        with pytest.raises(InvalidInput) as bad:
            short.result(timeout=120)
        assert bad.value.field == "domain"
    finally:
        batcher.close()

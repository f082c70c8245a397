"""moe-minilm under concurrent mixed requests: each answer equals the same request made alone."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from encoders import EncoderPool
from encoders.moe.data import DOMAINS
from service.app import create_app
from service.settings import Settings

TEXT_SETS = [
    ["Vitamin D deficiency is associated with higher fracture risk."],
    ["Does eating red meat raise the risk of colon cancer?", "Statins lower LDL cholesterol."],
    ["Yankees beat Red Sox 5-3 in extra innings", "Oil prices climb as OPEC cuts output"],
    ["New chip doubles battery life of laptops", "Rebels seize the capital after talks fail"],
]
CALLS, THREADS = 240, 12


@pytest.fixture
def moe_client(float32_pool: EncoderPool, tiny_data_dir: Path) -> Iterator[TestClient]:
    """The real app; a server error comes back as a 500 answer, as a client would see it."""
    settings = Settings(data_dir=tiny_data_dir, preload_encoders=[])
    with TestClient(create_app(settings, float32_pool), raise_server_exceptions=False) as client:
        yield client


def _bodies() -> list[dict[str, Any]]:
    """Every text set under every domain, and routed by the router (no domain)."""
    routes: list[str | None] = [*DOMAINS, None]
    return [
        {"encoder": "moe-minilm", "inputs": texts, **({"domain": d} if d else {})}
        for texts in TEXT_SETS
        for d in routes
    ]


def _same(got: dict[str, Any], alone: dict[str, Any]) -> bool:
    """Same vectors, and per input the same domain chosen the same way."""
    routes = [(i["domain"], i["routed_by"]) for i in alone["items"]]
    if [(i["domain"], i["routed_by"]) for i in got["items"]] != routes:
        return False
    return bool(np.allclose(got["embeddings"], alone["embeddings"], atol=1e-5))


def _hammer(client: TestClient, calls: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
    """Each distinct call alone first, then `CALLS` of them, shuffled, from `THREADS` threads:
    (answers that were not 200, answers that differ from the call made alone)."""
    alone = []
    for path, body in calls:
        r = client.post(path, json=body)
        assert r.status_code == 200, r.text
        alone.append(r.json())
    order = [i % len(calls) for i in range(CALLS)]
    random.Random(17).shuffle(order)

    def call(i: int) -> tuple[int, int, dict[str, Any] | None]:
        r = client.post(calls[i][0], json=calls[i][1])
        return i, r.status_code, r.json() if r.status_code == 200 else None

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(call, order))
    errors = sum(status != 200 for _, status, _ in results)
    wrong = sum(1 for i, _, got in results if got is not None and not _same(got, alone[i]))
    return errors, wrong


def test_concurrent_mixed_domains_equal_each_request_alone(moe_client: TestClient) -> None:
    bodies = _bodies()
    # the check can fail: a text's vector differs between two experts of the tiny model
    one = {b.get("domain"): moe_client.post("/v1/embed", json=b).json() for b in bodies[:7]}
    assert not np.allclose(one["scifact"]["embeddings"], one["news"]["embeddings"], atol=1e-5)
    errors, wrong = _hammer(moe_client, [("/v1/embed", b) for b in bodies])
    assert (errors, wrong) == (0, 0), f"{errors} non-200 and {wrong} wrong answers of {CALLS}"


def test_token_counts_and_encodes_share_the_tokenizer_safely(
    encoder_pool: EncoderPool, tiny_data_dir: Path
) -> None:
    """Counting tokens (for /v1/embeddings usage) must not flip the padding that concurrent
    encodes of the same shared tokenizer rely on."""
    encoder: Any = encoder_pool.get("moe-minilm", tiny_data_dir / "models")
    texts = [t for texts in TEXT_SETS for t in texts]
    backend = encoder.model.tokenizer.backend_tokenizer
    expected = encoder.count_tokens(texts)
    shape = tuple(encoder.model.preprocess(texts)["input_ids"].shape)
    settings = (backend.padding, backend.truncation)
    assert encoder.count_tokens(texts) == expected
    assert (backend.padding, backend.truncation) == settings

    def work(i: int) -> bool:
        if i % 2:
            return bool(encoder.count_tokens(texts) == expected)
        return tuple(encoder.model.preprocess(texts)["input_ids"].shape) == shape

    with ThreadPoolExecutor(8) as pool:
        ok = list(pool.map(work, range(400)))
    assert all(ok)


def test_a_text_far_past_the_window_is_clipped_to_the_same_tokens(
    float32_pool: EncoderPool, tiny_data_dir: Path
) -> None:
    """As minilm: a megabyte text is cut to a head that fills the window, the same tokens."""
    encoder: Any = float32_pool.get("moe-minilm", tiny_data_dir / "models")
    big = " ".join(f"word{i % 97} claim" for i in range(150_000))
    head = encoder._texts([big])[0]
    assert len(head) < len(big) // 50 and big.startswith(head)
    ids = encoder.model.preprocess([big, head])["input_ids"]
    assert ids.shape[1] == encoder.model.max_seq_length and (ids[0] == ids[1]).all()
    vectors = encoder.encode([big, head], domain="scifact")
    assert np.abs(vectors[0] - vectors[1]).max() < 1e-6
    assert encoder.count_tokens([big]) == encoder.model.max_seq_length

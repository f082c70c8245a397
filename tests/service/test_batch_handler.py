"""The one batch handler, through REST on real models: every encoder and option batched, 429
with Retry-After when its queue is full, 503 after shutdown, length-sorted calls under a token
budget, and lean float32 answers.

Answers under concurrency are compared with the same request alone by cosine >= 0.9999: batch
composition changes padding and matmul shapes, hence the last float bits, not the vectors.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from encoders import EncoderPool
from service.batching import EncodeBatcher
from service.errors import ShuttingDown

SHORT = ["cats purr", "dogs bark", "rain falls", "sun sets"]
LONG = [
    " ".join(f"word{i} about the long history of topic {j} and its many results" for i in range(25))
    for j in range(4)
]


def _cos_rows(a: Any, b: Any) -> np.ndarray:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


def _same(a: Any, b: Any) -> bool:
    return np.shape(a) == np.shape(b) and bool(_cos_rows(a, b).min() >= 0.9999)


def _mixed_bodies() -> list[dict[str, Any]]:
    """Different encoders, dims and lengths at once (face-dlib too when its photos exist)."""
    bodies: list[dict[str, Any]] = []
    for texts in (SHORT[:1], SHORT[1:3], LONG[:1], [SHORT[3], LONG[1]], LONG[2:]):
        bodies.append({"encoder": "minilm", "inputs": texts})
        for dim in (384, 64, 32):
            bodies.append({"encoder": "minilm-mrl", "inputs": texts, "dim": dim})
    from face_photos import FACES, b64, photo

    if FACES.exists():
        bodies += [
            {"encoder": "face-dlib", "inputs": [b64(photo("img5.jpg"))]},
            {"encoder": "face-dlib", "inputs": [b64(photo("img46.jpg")), b64(photo("img62.jpg"))]},
        ]
    return bodies


@pytest.mark.parametrize("workers", [1, 2])  # two workers call each encoder concurrently
def test_mixed_concurrent_requests_equal_each_alone(
    make_client: Callable[..., TestClient], encoder_pool: EncoderPool, workers: int
) -> None:
    client = make_client(batch_max_wait_ms=20, encode_workers=workers)
    bodies = _mixed_bodies()
    alone = []
    for body in bodies:
        r = client.post("/v1/embed", json=body)
        assert r.status_code == 200, r.text
        alone.append(r.json())
    engine = client.app_state["engine"]
    assert len(engine.batcher("minilm")._workers) == workers
    before = {name: engine.batcher(name).items for name in ("minilm", "minilm-mrl")}
    mrl_batches = engine.batcher("minilm-mrl").batches
    calls = [i for i in range(len(bodies)) for _ in range(3)]
    random.Random(7).shuffle(calls)
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: client.post("/v1/embed", json=bodies[i]), calls))
    assert [r.status_code for r in answers] == [200] * len(calls)
    for i, r in zip(calls, answers, strict=True):
        got = r.json()
        assert got["dim"] == alone[i]["dim"] and _same(got["embeddings"], alone[i]["embeddings"])
        if "items" in alone[i]:  # face-dlib: the same faces, found the same way
            assert [[f["box"] for f in it["faces"]] for it in got["items"]] == [
                [f["box"] for f in it["faces"]] for it in alone[i]["items"]
            ]
    # every call, dims and faces included, went through the encoders' batch handlers
    for name in ("minilm", "minilm-mrl"):
        sent = sum(len(bodies[i]["inputs"]) for i in calls if bodies[i]["encoder"] == name)
        assert engine.batcher(name).items - before[name] == sent
    mrl_calls = sum(bodies[i]["encoder"] == "minilm-mrl" for i in calls)
    # concurrent requests of one dim shared model calls (each dim still gets its own)
    assert engine.batcher("minilm-mrl").batches - mrl_batches < mrl_calls
    if any(b["encoder"] == "face-dlib" for b in bodies):
        assert engine.batcher("face-dlib").items >= 3


def test_full_queue_answers_429_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(batch_max_queue=1, batch_max_size=4)
    bodies = [{"encoder": "minilm", "inputs": [f"{LONG[i % 4]} {i}"] * 4} for i in range(24)]
    alone = client.post("/v1/embed", json=bodies[5]).json()["embeddings"]
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda b: client.post("/v1/embed", json=b), bodies))
    codes = [r.status_code for r in answers]
    assert set(codes) <= {200, 429} and 429 in codes and 200 in codes, codes
    for body, r in zip(bodies, answers, strict=True):
        if r.status_code == 429:
            assert r.json()["code"] == "overloaded"
            assert int(r.headers["retry-after"]) >= 1
        elif body is bodies[5]:
            assert _same(r.json()["embeddings"], alone)
        else:
            assert np.asarray(r.json()["embeddings"]).shape == (4, 384)


def test_closed_handler_answers_503_and_fails_queued_jobs(
    make_client: Callable[..., TestClient], encoder_pool: EncoderPool
) -> None:
    batcher = EncodeBatcher(encoder_pool.get("minilm"), max_batch=2, max_wait_ms=0)
    jobs = [batcher.submit([LONG[i % 4]] * 2) for i in range(20)]
    batcher.close()
    done = [job.exception(timeout=30) for job in jobs]  # none left hanging
    assert all(exc is None or isinstance(exc, ShuttingDown) for exc in done)
    assert any(isinstance(exc, ShuttingDown) for exc in done)
    with pytest.raises(ShuttingDown):
        batcher.submit(["late"])

    client = make_client()
    client.app_state["engine"].batcher("minilm").close()
    with ThreadPoolExecutor(1) as pool:  # the old handler never answered here
        r = pool.submit(client.post, "/v1/embed", json={"encoder": "minilm", "inputs": ["a"]})
        answer = r.result(timeout=60)
    assert answer.status_code == 503 and answer.json()["code"] == "shutting_down"


def test_calls_sorted_by_length_under_a_token_budget(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("minilm")
    calls: list[int] = []
    batcher = EncodeBatcher(
        encoder,
        max_batch=64,
        max_wait_ms=50,
        max_tokens=300,
        on_batch=lambda n, w, s: calls.append(n),
    )
    texts = [LONG[0], SHORT[0], LONG[1], SHORT[1], SHORT[2], LONG[2], SHORT[3], LONG[3]]
    try:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda t: batcher.encode([t]), texts))
        calls.clear()
        mixed = batcher.encode(texts)  # one job: sorted inside, answered in order
    finally:
        batcher.close()
    alone = encoder.encode(texts)
    assert _same(np.vstack(got), alone) and _same(mixed, alone)
    # the short texts share the first call; each long one (256 tokens, padded) goes alone
    assert calls == [4, 1, 1, 1, 1]


def test_short_texts_are_not_padded_to_long_ones_when_a_call_is_cheaper(
    encoder_pool: EncoderPool,
) -> None:
    """Under the default token budget all eight texts fit one call, but padding the short ones
    to 256 tokens costs more than a second call: two calls, answers in the job's order."""
    encoder = encoder_pool.get("minilm")
    calls: list[int] = []
    batcher = EncodeBatcher(encoder, max_wait_ms=0, on_batch=lambda n, w, s: calls.append(n))
    texts = [LONG[0], SHORT[0], SHORT[1], LONG[1], SHORT[2], LONG[2], LONG[3], SHORT[3]]
    try:
        mixed = batcher.encode(texts)
    finally:
        batcher.close()
    assert 8 * batcher.max_seq <= batcher.max_tokens  # one call would have been allowed
    assert calls == [4, 4]
    assert _same(mixed, encoder.encode(texts))


def test_float_answers_are_float32_and_base64_is_their_bytes(client: TestClient) -> None:
    body = {"model": "minilm", "input": SHORT}
    floats = client.post("/v1/embeddings", json=body)
    encoded = client.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    native = client.post("/v1/embed", json={"encoder": "minilm", "inputs": SHORT})
    # float32 values written shortest (orjson), not float64 noise from `tolist()`
    numbers = re.findall(rb"\d+\.\d+", floats.content + native.content)  # mantissas
    digits = [len(n.replace(b".", b"").lstrip(b"0")) for n in numbers]
    assert len(numbers) >= 8 * 384 and max(digits) <= 9
    rows = np.asarray([d["embedding"] for d in floats.json()["data"]], np.float32)
    decoded = np.vstack(
        [np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in encoded["data"]]
    )
    np.testing.assert_array_equal(decoded, rows)
    np.testing.assert_array_equal(np.asarray(native.json()["embeddings"], np.float32), rows)
    assert [d["index"] for d in encoded["data"]] == [0, 1, 2, 3]
    assert "items" not in native.json()


def test_the_thread_budget_is_set_on_the_worker_and_split_among_busy_workers(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    # torch's thread count belongs to the calling thread: the worker must set its own
    caplog.set_level("DEBUG", logger="service.embedding")
    client = make_client(torch_threads=1, encode_workers=2)
    r = client.post("/v1/embed", json={"encoder": "minilm", "inputs": ["cats purr"]})
    assert r.status_code == 200, r.text
    assert any("batch worker runs torch on 1 threads" in m for m in caplog.messages)
    import torch

    from service.embedding import _torch_threads_for

    before = torch.get_num_threads()
    try:  # a budget of 4: all of it for a lone call, halves for two, at least one each
        for busy, want in ((1, 4), (2, 2), (3, 1), (5, 1)):
            _torch_threads_for(4, "minilm", busy)
            assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)

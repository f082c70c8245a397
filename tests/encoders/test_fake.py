"""The `fake` test encoder: the encoder contract, stable across processes, no torch, shared words
give related vectors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from encoders import EmptyInput, EncoderPool, InvalidDimension, InvalidInput

TEXTS = ["A cat sat on the mat.", "Stock markets fell sharply today.", "The cat naps on a mat."]
PROBE = """
import json, sys
from encoders import EncoderPool
vectors = EncoderPool().get("fake").encode(json.loads(sys.argv[1]))
print(json.dumps({"vectors": vectors.tolist(), "torch": "torch" in sys.modules}))
"""


def test_contract_and_nested_dims(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("fake")
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(vectors, encoder.encode(TEXTS))
    for dim in (16, 32):
        short = encoder.encode(TEXTS, dim=dim)
        expected = vectors[:, :dim] / np.linalg.norm(vectors[:, :dim], axis=1, keepdims=True)
        np.testing.assert_allclose(short, expected, atol=1e-6)
    with pytest.raises(InvalidDimension, match=r"cannot produce dim=48; allowed: 16, 32, 64"):
        encoder.encode(TEXTS, dim=48)
    with pytest.raises(EmptyInput):
        encoder.encode([])
    with pytest.raises(InvalidInput) as info:
        encoder.encode(["ok", 3])
    assert info.value.field == "inputs[1]"


def test_shared_words_give_related_vectors(encoder_pool: EncoderPool) -> None:
    cat, stocks, cat_again = encoder_pool.get("fake").encode(TEXTS)
    assert cat @ cat_again > cat @ stocks + 0.3
    blank, other_blank = encoder_pool.get("fake").encode(["?!", "  ?! "])  # no words: still a unit
    np.testing.assert_allclose(blank, other_blank)
    assert np.linalg.norm(blank) == pytest.approx(1.0, abs=1e-6)
    assert encoder_pool.get("fake").count_tokens(["hello world", "Hello, world!", "?"]) == 5


def test_same_vectors_in_another_process_without_torch(encoder_pool: EncoderPool) -> None:
    # another hash seed: the vectors must not depend on Python's salted `hash()`
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["torch"] is False
    np.testing.assert_array_equal(
        np.asarray(seen["vectors"], np.float32), encoder_pool.get("fake").encode(TEXTS)
    )


def test_concurrent_calls_equal_serial_ones(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("fake")
    batches = [[f"{t} {i}" for t in TEXTS] for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(encoder.encode, batches))
    for batch, got in zip(batches, together, strict=True):
        np.testing.assert_array_equal(got, encoder.encode(batch))


def test_listed_as_a_test_encoder(client: TestClient) -> None:
    listed = {e["name"]: e for e in client.get("/v1/encoders").json()["encoders"]}
    fake = listed["fake"]
    assert (fake["modality"], fake["dim"], fake["nested_dims"]) == ("text", 64, [16, 32, 64])
    assert "test encoder" in fake["description"]

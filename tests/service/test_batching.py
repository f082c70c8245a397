"""The dynamic batcher on the real model: same vectors, fewer model calls, isolated failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from encoders import EmptyInput, EncoderPool, InvalidDimension, InvalidInput
from service.batching import EncodeBatcher

TEXTS = [f"sentence number {i} about topic {i % 4}" for i in range(32)]


def test_concurrent_calls_share_model_calls(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("minilm")
    batcher = EncodeBatcher(encoder, max_batch=64, max_wait_ms=50)
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda t: batcher.encode([t]), TEXTS))
        np.testing.assert_allclose(np.vstack(results), encoder.encode(TEXTS), atol=1e-5)
        assert batcher.items == len(TEXTS)
        assert batcher.batches < len(TEXTS)  # coalesced
    finally:
        batcher.close()


def test_a_bad_job_fails_alone(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("minilm")
    batcher = EncodeBatcher(encoder, max_batch=64, max_wait_ms=50)
    try:
        with ThreadPoolExecutor(4) as pool:
            good = [pool.submit(batcher.encode, [t]) for t in TEXTS[:3]]
            bad = pool.submit(batcher.encode, ["ok", 7])
            assert all(f.result().shape == (1, 384) for f in good)
            with pytest.raises(InvalidInput):
                bad.result()
        with pytest.raises(EmptyInput):
            batcher.encode([])
        with pytest.raises(InvalidDimension):
            batcher.encode(["x"], dim=7)
    finally:
        batcher.close()


def test_a_cancelled_job_is_skipped_and_the_worker_lives_on(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("minilm")
    batcher = EncodeBatcher(encoder, max_batch=64, max_wait_ms=0)
    try:
        busy = batcher.submit([" ".join(TEXTS)] * 64)  # keeps the worker busy for a while
        gone = batcher.submit(["a caller that gave up"])
        assert gone.cancel()  # still queued behind `busy`: an awaiting request was cancelled
        after = batcher.submit(TEXTS[:2])
        assert busy.result(timeout=120).shape == (64, 384)
        np.testing.assert_allclose(after.result(timeout=60), encoder.encode(TEXTS[:2]), atol=1e-5)
        assert batcher.items == 66  # the cancelled job never reached the model
    finally:
        batcher.close()

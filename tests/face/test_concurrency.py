"""face-dlib under concurrent mixed requests: each answer equals the same request made alone."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from face_photos import b64, group_photo, photo
from fastapi.testclient import TestClient

from encoders import EncoderPool
from service.app import create_app
from service.settings import Settings

THREADS, ROUNDS = 4, 3


@pytest.fixture
def face_client(
    encoder_pool: EncoderPool, face_encoder: Any, tmp_path: Path
) -> Iterator[TestClient]:
    """The real app; a server error comes back as a 500 answer, as a client would see it."""
    settings = Settings(data_dir=tmp_path / "data", preload_encoders=[])
    with TestClient(create_app(settings, encoder_pool), raise_server_exceptions=False) as client:
        yield client


def _bodies() -> list[dict[str, Any]]:
    """Different photos, some with per-image options (jittered crops were drawn from one random
    generator on the shared model: a face's vector depended on the requests before it)."""
    inputs = [
        [b64(photo("img5.jpg"))],
        [{**b64(photo("img51.jpg")), "max_faces": 1, "num_jitters": 3}],
        [{**b64(group_photo()), "detector": "hog", "max_faces": 3}],
        [b64(photo("img46.jpg")), b64(photo("img62.jpg"))],
    ]
    return [{"encoder": "face-dlib", "inputs": i} for i in inputs]


def _faces(body: dict[str, Any]) -> list[Any]:
    return [[(f["box"], f["embedding"]) for f in item["faces"]] for item in body["items"]]


def _same(got: dict[str, Any], alone: dict[str, Any]) -> bool:
    if not np.allclose(got["embeddings"], alone["embeddings"], atol=1e-5):
        return False
    pairs = zip(_faces(got), _faces(alone), strict=True)
    return all(
        len(g) == len(a)
        and all(
            gb == ab and np.allclose(ge, ae, atol=1e-5)
            for (gb, ge), (ab, ae) in zip(g, a, strict=True)
        )
        for g, a in pairs
    )


def test_concurrent_photos_equal_each_request_alone(face_client: TestClient) -> None:
    bodies = _bodies()
    alone = []
    for body in bodies:
        r = face_client.post("/v1/embed", json=body)
        assert r.status_code == 200, r.text
        alone.append(r.json())
    assert len(alone[2]["items"][0]["faces"]) == 3

    def call(i: int) -> tuple[int, int, dict[str, Any] | None]:
        r = face_client.post("/v1/embed", json=bodies[i])
        return i, r.status_code, r.json() if r.status_code == 200 else None

    order = [(t + r) % len(bodies) for r in range(ROUNDS) for t in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(call, order))
    errors = sum(status != 200 for _, status, _ in results)
    wrong = sum(1 for i, _, got in results if got is not None and not _same(got, alone[i]))
    assert (errors, wrong) == (0, 0), f"{errors} non-200 and {wrong} wrong of {len(order)}"

"""graph-cora under concurrent mixed requests: each answer equals the same request made alone."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient
from support import DATA

from encoders import EncoderPool
from service.app import create_app
from service.settings import Settings

CALLS, THREADS = 120, 12


@pytest.fixture
def graph_client(
    encoder_pool: EncoderPool, graph_models: Path, tmp_path: Path
) -> Iterator[TestClient]:
    """The real app; a server error comes back as a 500 answer, as a client would see it."""
    settings = Settings(data_dir=tmp_path / "data", models_dir=graph_models, preload_encoders=[])
    with TestClient(create_app(settings, encoder_pool), raise_server_exceptions=False) as client:
        yield client


def _bodies() -> list[dict[str, Any]]:
    """Known nodes by id (int and str), and new nodes given by features and edges."""
    features = sp.load_npz(DATA / "cora_planetoid" / "features.npz")
    new = [
        {"features": features[row].toarray()[0].tolist(), "edges": edges}
        for row, edges in ((3, [0, 1]), (40, [7]), (900, [10, 11, 12]))
    ]
    inputs: list[list[Any]] = [[0], [5, 6], ["7"], [2000, "3"], [new[0]], [new[1], 9], new]
    return [{"encoder": "graph-cora", "inputs": i} for i in inputs]


def test_concurrent_mixed_nodes_equal_each_request_alone(graph_client: TestClient) -> None:
    bodies = _bodies()
    alone = []
    for body in bodies:
        r = graph_client.post("/v1/embed", json=body)
        assert r.status_code == 200, r.text
        alone.append(r.json()["embeddings"])
    order = [i % len(bodies) for i in range(CALLS)]
    random.Random(17).shuffle(order)

    def call(i: int) -> tuple[int, int, list[list[float]] | None]:
        r = graph_client.post("/v1/embed", json=bodies[i])
        return i, r.status_code, r.json()["embeddings"] if r.status_code == 200 else None

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(call, order))
    errors = sum(status != 200 for _, status, _ in results)
    wrong = sum(
        1 for i, _, got in results if got is not None and not np.allclose(got, alone[i], atol=1e-5)
    )
    assert (errors, wrong) == (0, 0), f"{errors} non-200 and {wrong} wrong answers of {CALLS}"

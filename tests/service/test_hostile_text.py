"""Text that is not Unicode (lone surrogates) or that SQLite would cut (NUL in an id) is refused
with a 4xx naming the input, before it reaches the store or a shared model batch."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("bad_id", ['"\\ud800"', '"a\\u0000b"', '"\\udfffz"'])
def test_point_ids_sqlite_cannot_keep_are_refused_and_nothing_is_stored(
    client: TestClient, bad_id: str
) -> None:
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    body = f'{{"points": [{{"id": "ok", "vector": [1, 0]}}, {{"id": {bad_id}, "vector": [0, 1]}}]}}'
    answer = client.put("/v1/collections/v/points", content=body, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_point_id"
    assert client.get("/v1/collections/v").json()["count"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/embed", '{"inputs": ["fine", "\\ud800"], "encoder": "fake"}'),
        ("/v1/embed", '{"inputs": ["fine", 7], "encoder": "fake"}'),
        ("/v1/embeddings", '{"input": "a\\udfff", "model": "fake"}'),
        ("/v1/rank", '{"query": "x", "documents": ["\\ud800"], "model": "fake"}'),
        ("/v1/collections/t/points", '{"points": [{"id": "a", "text": "\\ud800"}]}'),
        ("/v1/collections/t/search", '{"query": {"text": "\\udc00"}}'),
    ],
)
def test_texts_a_tokenizer_cannot_read_are_refused(
    client: TestClient, path: str, body: str
) -> None:
    spec = {"name": "t", "encoder": "fake"}
    assert client.post("/v1/collections", json=spec).status_code == 201
    method = client.put if path.endswith("/points") else client.post
    answer = method(path, content=body, headers=JSON)
    assert answer.status_code == 422, answer.text
    head = "input[" if path == "/v1/embeddings" else "inputs["  # each body's own field name
    assert answer.json()["code"] == "invalid_input" and answer.json()["field"].startswith(head)
    # the encoder still serves others
    fine = client.post("/v1/embed", json={"inputs": ["fine"], "encoder": "fake"})
    assert fine.status_code == 200

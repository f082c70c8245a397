"""Text that is not Unicode (lone surrogates) or that SQLite would cut (NUL in an id) is refused
with a 4xx naming the input, before it reaches the store or a shared model batch."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support import refusal_status

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
    ("path", "body", "field"),  # each error names the field of its own body
    [
        ("/v1/embed", '{"inputs": ["fine", "\\ud800"], "encoder": "fake"}', "inputs[1]"),
        ("/v1/embed", '{"inputs": ["fine", 7], "encoder": "fake"}', "inputs[1]"),
        ("/v1/embeddings", '{"input": "a\\udfff", "model": "fake"}', "input[0]"),
        ("/v1/rank", '{"query": "x", "documents": ["\\ud800"], "model": "fake"}', "documents[0]"),
        (
            "/v1/collections/t/points",
            '{"points": [{"id": "v", "vector": [1, 0, 0, 0, 0, 0, 0, 0]}, '
            '{"id": "a", "text": "ok"}, {"id": "b", "text": "\\ud800"}]}',
            "points[2].text",
        ),
        ("/v1/collections/t/search", '{"query": {"text": "\\udc00"}}', "query.text"),
        (
            "/v1/collections/t/search/batch",
            '{"searches": [{"query": {"text": "ok"}}, {"query": {"text": "\\udc00"}}]}',
            "searches[1].query.text",
        ),
    ],
)
def test_texts_a_tokenizer_cannot_read_are_refused(
    client: TestClient, path: str, body: str, field: str
) -> None:
    spec = {"name": "t", "encoder": "fake"}
    assert client.post("/v1/collections", json=spec).status_code == 201
    method = client.put if path.endswith("/points") else client.post
    answer = method(path, content=body, headers=JSON)
    assert answer.status_code == refusal_status(path), answer.text
    assert (answer.json()["code"], answer.json()["field"]) == ("invalid_input", field)
    # the encoder still serves others
    fine = client.post("/v1/embed", json={"inputs": ["fine"], "encoder": "fake"})
    assert fine.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/embeddings", {"input": ["a", " "], "model": "fake"}, "input[1]"),
        ("/v1/embeddings", {"input": "", "model": "fake"}, "input[0]"),
        ("/v1/embed", {"inputs": ["\n\t"], "encoder": "fake"}, "inputs[0]"),
        # what the tokenizer drops: NUL, ZWSP, BOM, joiners, soft hyphen, bidi marks (they were
        # all one vector, 0.99999 to each other)
        (
            "/v1/embed",
            {"inputs": ["ok", "\x00\u200b\ufeff\u200d\xad\u2060\u202e"], "encoder": "fake"},
            "inputs[1]",
        ),
        ("/v1/embeddings", {"input": ["\x01 \x7f\u200c"], "model": "fake"}, "input[0]"),
        ("/v1/rank", {"query": "q", "documents": ["a", ""], "model": "fake"}, "documents[1]"),
        ("/v1/collections/e/search", {"query": {"text": ""}}, "query.text"),
        (
            "/v1/collections/e/points",
            {"points": [{"id": "a", "text": "ok"}, {"id": "b", "text": ""}]},
            "points[1].text",
        ),
    ],
)
def test_empty_texts_are_refused_as_openai_and_tei_do(
    client: TestClient, path: str, body: dict[str, object], field: str
) -> None:
    """They were embedded as the [CLS][SEP] vector; an offline build skips them already."""
    assert client.post("/v1/collections", json={"name": "e", "encoder": "fake"}).status_code == 201
    method = "PUT" if path.endswith("/points") else "POST"
    answer = client.request(method, path, json=body)
    assert answer.status_code == refusal_status(path), answer.text
    assert answer.json()["code"] == "invalid_input", answer.text
    assert answer.json()["field"] == field
    assert client.get("/v1/collections/e").json()["count"] == 0

"""OpenAI usage: the token count is the same whether it is counted inline or on a worker thread."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from service.routers.embed import INLINE_TOKEN_COUNT


@pytest.mark.parametrize("n", [1, INLINE_TOKEN_COUNT, INLINE_TOKEN_COUNT + 1, 200])
def test_usage_counts_every_text(make_client: Callable[..., TestClient], n: int) -> None:
    client = make_client()
    texts = [f"text number {i} about cats" for i in range(n)]  # 5 words each
    r = client.post("/v1/embeddings", json={"model": "fake", "input": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["index"] for d in body["data"]] == list(range(n))
    assert body["usage"] == {"prompt_tokens": 5 * n, "total_tokens": 5 * n}

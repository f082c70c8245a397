"""POST /v1/rank (Cohere/infinity shape) and POST /rerank (TEI shape) with the real minilm."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DOCS, assert_error, create_docs

QUERY = "Which animals make good pets?"
TEXTS = [
    "The central bank raised interest rates again.",
    "Dogs are loyal companions and love to play.",
    "Cats are independent pets that purr.",
    "The football match ended in a draw.",
]


# bfloat16 minilm (the default on CPUs with AMX) scores a text a few 1e-4 apart in different
# batches; /v1/rank and the reference /v1/embed call batch the texts differently
RANK_ATOL = 2e-3


def cosine_order(client: TestClient, query: str, texts: list[str]) -> tuple[list[int], np.ndarray]:
    """What ranking must give, from the embeddings the service itself returns: the order, and
    the relevance scores (cosine c as (1 + c) / 2, in [0, 1] as the peers' rerank scores)."""
    body = {"encoder": "minilm", "inputs": [query, *texts]}
    vectors = np.array(client.post("/v1/embed", json=body).json()["embeddings"])
    scores = vectors[1:] @ vectors[0]
    return np.argsort(-scores, kind="stable").tolist(), (1 + scores) / 2


def test_rank_documents_cohere_shape(client: TestClient) -> None:
    order, scores = cosine_order(client, QUERY, TEXTS)
    r = client.post("/v1/rank", json={"query": QUERY, "documents": TEXTS, "model": "minilm"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "rerank" and body["model"] == "minilm"
    assert [x["index"] for x in body["results"]] == order
    assert set(order[:2]) == {1, 2}  # the two pet texts first
    np.testing.assert_allclose(
        [x["relevance_score"] for x in body["results"]], scores[order], atol=RANK_ATOL
    )
    assert all(set(x) == {"index", "relevance_score"} for x in body["results"])
    top = client.post(
        "/v1/rank",
        json={
            "query": QUERY,
            "documents": [{"text": t} for t in TEXTS],
            "top_n": 2,
            "return_documents": True,
        },
    ).json()["results"]
    assert [x["index"] for x in top] == order[:2]
    assert [x["document"]["text"] for x in top] == [TEXTS[i] for i in order[:2]]


def test_rank_ids_of_a_collection(client: TestClient) -> None:
    create_docs(client)
    ids = list(DOCS)
    texts = [DOCS[i][0] for i in ids]
    order, scores = cosine_order(client, QUERY, texts)
    body = {"query": QUERY, "ids": ids, "collection": "docs", "top_n": 3}
    got = client.post("/v1/rank", json=body).json()["results"]
    assert [x["index"] for x in got] == order[:3]
    assert [x["id"] for x in got] == [ids[i] for i in order[:3]]
    np.testing.assert_allclose(
        [x["relevance_score"] for x in got], scores[order[:3]], atol=RANK_ATOL
    )


def test_rank_ids_by_payload_text_with_another_encoder(client: TestClient) -> None:
    # a vector-only collection (say, 4-d shortlist vectors) re-ranked by minilm on payload texts
    body = {"name": "short", "dim": 4, "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [
        {"id": f"d{i}", "vector": [1.0, i, 0.0, 1.0], "payload": {"body": t}}
        for i, t in enumerate(TEXTS)
    ]
    client.put("/v1/collections/short/points", json={"points": points})
    order, _ = cosine_order(client, QUERY, TEXTS)
    req = {"query": QUERY, "ids": ["d0", "d1", "d2", "d3"], "collection": "short"}
    req |= {"model": "minilm", "text_field": "body", "return_documents": True}
    got = client.post("/v1/rank", json=req).json()["results"]
    assert [x["id"] for x in got] == [f"d{i}" for i in order]
    assert got[0]["document"]["text"] == TEXTS[order[0]]
    no_text = {**req, "text_field": "title"}
    assert_error(client.post("/v1/rank", json=no_text), 422, "unsupported_input", "ids[0]")
    no_model = {k: v for k, v in req.items() if k != "model"}
    assert_error(client.post("/v1/rank", json=no_model), 422, "no_encoder", "model")


def test_rank_ids_of_text_points_with_another_encoder_use_their_texts(client: TestClient) -> None:
    """Points upserted from `text` hold it in no payload field: ranking them with another
    encoder said they had no text, and return_documents gave none."""
    create_docs(client, encoder="fake")
    ids = list(DOCS)
    texts = [DOCS[i][0] for i in ids]
    order, scores = cosine_order(client, QUERY, texts)
    req = {"query": QUERY, "ids": ids, "collection": "docs", "model": "minilm"}
    got = client.post("/v1/rank", json={**req, "return_documents": True}).json()["results"]
    assert [x["id"] for x in got] == [ids[i] for i in order]
    np.testing.assert_allclose([x["relevance_score"] for x in got], scores[order], atol=RANK_ATOL)
    assert [x["document"]["text"] for x in got] == [texts[i] for i in order]
    own = {"query": QUERY, "ids": ids, "collection": "docs", "return_documents": True}
    shown = client.post("/v1/rank", json=own).json()["results"]  # the collection's own encoder
    assert {x["id"]: x["document"]["text"] for x in shown} == dict(zip(ids, texts, strict=True))
    titled = {**req, "text_field": "title"}  # a field named by the caller is that field only
    assert_error(client.post("/v1/rank", json=titled), 422, "unsupported_input", "ids[0]")


def test_tei_rerank_shape(client: TestClient) -> None:
    order, scores = cosine_order(client, QUERY, TEXTS)
    r = client.post("/rerank", json={"query": QUERY, "texts": TEXTS})
    assert r.status_code == 200, r.text
    got = r.json()
    assert [x["index"] for x in got] == order
    assert all(set(x) == {"index", "score"} for x in got)
    np.testing.assert_allclose([x["score"] for x in got], scores[order], atol=RANK_ATOL)
    with_text = client.post("/rerank", json={"query": QUERY, "texts": TEXTS, "return_text": True})
    assert [x["text"] for x in with_text.json()] == [TEXTS[i] for i in order]


def test_rank_bad_inputs(client: TestClient) -> None:
    create_docs(client)
    post = lambda body: client.post("/v1/rank", json=body)  # noqa: E731
    both = {"query": "q", "documents": ["a"], "ids": ["cat"], "collection": "docs"}
    assert_error(post(both), 422, "invalid_request", "documents")
    # ignored, it ranked the documents whatever collection was named, even one that is not there
    for name in ("docs", "nope"):
        named = {"query": "q", "documents": ["a"], "collection": name}
        assert_error(post(named), 422, "invalid_request", "collection")
    assert_error(post({"query": "q"}), 422, "invalid_request", "documents")
    assert_error(post({"query": "q", "ids": ["cat"]}), 422, "invalid_request", "collection")
    assert_error(post({"query": "q", "documents": []}), 422, "empty_input", "documents")
    missing = {"query": "q", "ids": ["cat", "nope"], "collection": "docs"}
    assert_error(post(missing), 404, "point_not_found", "ids[1]")
    unknown = {"query": "q", "ids": ["cat"], "collection": "nope"}
    assert_error(post(unknown), 404, "collection_not_found")
    assert_error(
        post({"query": "q", "documents": ["a"], "model": "nope"}), 404, "encoder_not_found"
    )
    assert_error(post({"query": "q", "documents": ["a"], "top_n": 0}), 422, "validation_error")
    clash = {"query": "q", "documents": ["a"], "model": "minilm", "encoder": "other"}
    assert_error(post(clash), 422, "invalid_request", "encoder")
    no_texts = client.post("/rerank", json={"query": "q", "texts": []})
    assert_error(no_texts, 400, "empty_input")  # TEI's 400 with error_type Empty
    assert_error(client.post("/rerank", json={"query": "q"}), 422, "validation_error", "texts")
    # a lone surrogate is refused naming the rank body's own field, not /v1/embed's `inputs`
    json_type = {"content-type": "application/json"}
    lone = [
        ("/v1/rank", '{"query": "\\ud800", "documents": ["a"]}', "query"),
        ("/v1/rank", '{"query": "q", "documents": ["a", "\\ud800"]}', "documents[1]"),
        ("/rerank", '{"query": "q", "texts": ["\\ud800"]}', "texts[0]"),
        ("/v1/rank", '{"query": "\\ud800", "ids": ["cat"], "collection": "docs"}', "query"),
    ]
    for path, body, field in lone:
        answer = client.post(path, content=body, headers=json_type)
        assert_error(answer, 422, "invalid_input", field)


def test_rank_fields_pick_what_is_ranked(client: TestClient) -> None:
    """Cohere v1: document objects ranked by the named fields, `name: value` lines in order
    (they were ranked by `text` whatever rank_fields said)."""
    docs = [
        {"text": "The central bank raised interest rates.", "title": "Kittens for adoption"},
        {"text": "Dogs are loyal companions.", "title": "Quarterly bond yields"},
    ]
    body = {"query": "a pet cat", "documents": docs, "rank_fields": ["title"]}
    body |= {"model": "minilm", "return_documents": True}
    r = client.post("/v1/rank", json=body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1]  # by title; by text it would be 1 first
    assert results[0]["document"] == docs[0]  # returned as sent, every field
    order, scores = cosine_order(client, "a pet cat", ["title: Kittens for adoption"])
    np.testing.assert_allclose(results[0]["relevance_score"], scores[0], atol=RANK_ATOL)
    by_text = client.post("/v1/rank", json={**body, "rank_fields": None}).json()["results"]
    assert [x["index"] for x in by_text] == [1, 0]
    missing = client.post("/v1/rank", json={**body, "rank_fields": ["author"]})
    assert_error(missing, 422, "invalid_request", "documents[0]")
    no_text = {"query": "q", "documents": [{"title": "only a title"}], "model": "minilm"}
    assert_error(client.post("/v1/rank", json=no_text), 422, "invalid_request", "documents[0]")


def test_rank_ids_scores_cosine_on_l2_and_dot_collections(client: TestClient) -> None:
    """Scores are cosine whatever the collection's metric (l2 answered minus the distance)."""
    order, scores = cosine_order(client, QUERY, TEXTS)
    for metric in ("l2", "dot"):
        body = {"name": f"m_{metric}", "encoder": "minilm", "metric": metric}
        assert client.post("/v1/collections", json=body).status_code == 201
        points = [{"id": f"t{i}", "text": t} for i, t in enumerate(TEXTS)]
        client.put(f"/v1/collections/m_{metric}/points", json={"points": points})
        req = {"query": QUERY, "ids": [p["id"] for p in points], "collection": f"m_{metric}"}
        got = client.post("/v1/rank", json=req).json()["results"]
        assert [x["index"] for x in got] == order
        np.testing.assert_allclose(
            [x["relevance_score"] for x in got], scores[order], atol=RANK_ATOL
        )


def test_rank_ids_at_another_width_keeps_the_collections_encoder(client: TestClient) -> None:
    """dim 64 of a minilm-mrl-adapter collection ranks with that encoder, not the default."""
    body = {"name": "mrl", "encoder": "minilm-mrl-adapter", "dim": 128}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": f"t{i}", "text": t, "payload": {"text": t}} for i, t in enumerate(TEXTS)]
    client.put("/v1/collections/mrl/points", json={"points": points}).raise_for_status()
    req = {"query": QUERY, "ids": ["t0", "t1", "t2", "t3"], "collection": "mrl", "dim": 64}
    r = client.post("/v1/rank", json=req)
    assert r.status_code == 200 and r.json()["model"] == "minilm-mrl-adapter", r.text
    embed = {"encoder": "minilm-mrl-adapter", "inputs": [QUERY, *TEXTS], "dim": 64}
    vectors = np.array(client.post("/v1/embed", json=embed).json()["embeddings"])
    expected = np.argsort(-(vectors[1:] @ vectors[0]), kind="stable").tolist()
    assert [x["index"] for x in r.json()["results"]] == expected


def test_rank_errors_name_the_fields_sent(client: TestClient) -> None:
    post = lambda body: client.post("/v1/rank", json=body)  # noqa: E731
    unknown = {"query": "q", "ids": ["cat"], "collection": "nope"}
    assert_error(post(unknown), 404, "collection_not_found", "collection")
    for key in ("model", "encoder"):
        answer = post({"query": "q", "documents": ["a"], key: "nope"})
        assert_error(answer, 404, "encoder_not_found", key)
    tei = client.post("/rerank", json={"query": "q", "texts": ["a"], "model": "nope"})
    assert_error(tei, 404, "encoder_not_found", "model")


def test_equal_documents_score_equally_in_their_given_order(client: TestClient) -> None:
    """Equal vectors scored a few 1e-8 apart (a BLAS product sums its last rows in another
    order) and came back reversed."""
    documents = ["x y", "x y", "x y"]
    for path, body in (
        ("/v1/rank", {"query": "alpha", "documents": documents, "model": "minilm"}),
        ("/rerank", {"query": "alpha", "texts": documents}),
    ):
        answer = client.post(path, json=body).json()
        rows = answer["results"] if isinstance(answer, dict) else answer
        score = "relevance_score" if path == "/v1/rank" else "score"
        same = [(row["index"], row[score]) for row in rows]
        assert [i for i, _ in same] == [0, 1, 2] and len({s for _, s in same}) == 1, same


def test_relevance_scores_lie_in_0_1_unless_raw_scores_are_asked(client: TestClient) -> None:
    """Cohere's relevance_score lies in [0, 1], as TEI's and infinity's scores unless raw_scores:
    a cosine below 0 came back as is (-0.08 for these two texts)."""
    query, docs = (
        "Quarterly earnings beat analyst expectations",
        ["Mountain hiking trail in the Alps"],
    )
    embedded = client.post("/v1/embed", json={"encoder": "minilm", "inputs": [query, *docs]})
    vectors = np.array(embedded.json()["embeddings"])
    cosine = float(vectors[0] @ vectors[1])
    assert cosine < 0  # the case: the texts point apart
    body = {"query": query, "documents": docs, "model": "minilm"}
    for path in ("/v1/rank", "/v1/rerank", "/v2/rerank"):
        (row,) = client.post(path, json=body).json()["results"]
        assert row["relevance_score"] == pytest.approx((1 + cosine) / 2, abs=RANK_ATOL), path
    (row,) = client.post("/rerank", json={"query": query, "texts": docs}).json()
    assert row["score"] == pytest.approx((1 + cosine) / 2, abs=RANK_ATOL)
    (raw,) = client.post("/rerank", json={"query": query, "texts": docs, "raw_scores": True}).json()
    assert raw["score"] == pytest.approx(cosine, abs=RANK_ATOL)
    (raw,) = client.post("/v1/rank", json={**body, "raw_scores": True}).json()["results"]
    assert raw["relevance_score"] == pytest.approx(cosine, abs=RANK_ATOL)

"""Inputs an outside sweep turned into 500s or the wrong error: bytes that are not UTF-8, a
`min_count` past 64 bits, ids no point can have, and HNSW searches whose k the graph walk cannot
reach after slot reuse. Each is now its documented 4xx or an answer."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error, refusal_status

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "path",
    ["/v1/collections/v/search", "/v1/collections/v/search/batch", "/v1/embed", "/v1/embeddings"],
)
def test_a_body_that_is_not_utf8_is_invalid_json(client: TestClient, path: str) -> None:
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    answer = client.post(path, content=b'{"x": "\xff"}', headers=JSON)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_json"


@pytest.mark.parametrize("bad_count", [2**63, 0])  # 0 held for every point; Qdrant refuses it
def test_min_count_past_64_bits_is_refused_and_deletes_nothing(
    client: TestClient, bad_count: int
) -> None:
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": str(i), "vector": [1, i], "payload": {"n": i % 2}} for i in range(4)]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    huge = {"min_should": {"conditions": [{"key": "n", "match": {"value": 1}}]}}
    huge["min_should"]["min_count"] = bad_count
    calls = [
        ("POST", "/v1/collections/v/search", {"query": {"vector": [1, 0]}, "filter": huge}),
        ("POST", "/v1/collections/v/count", {"filter": huge}),
        ("DELETE", "/v1/collections/v/points", {"filter": huge}),
    ]
    for method, path, body in calls:
        answer = client.request(method, path, json=body)
        assert answer.status_code == 422, (path, answer.text)
        assert set(answer.json()) == {"code", "message", "field"}
    assert client.get("/v1/collections/v").json()["count"] == 4
    fits = {"min_should": {**huge["min_should"], "min_count": 2**63 - 1}}  # valid, never met
    assert client.post("/v1/collections/v/count", json={"filter": fits}).json() == {"count": 0}


@pytest.mark.parametrize("bad_id", ["\\u0000", "a\\u0000b", "\\ud800"])
def test_an_id_no_point_can_have_is_invalid_not_missing(client: TestClient, bad_id: str) -> None:
    # ids with NUL or a lone surrogate are refused on upsert; asking for one is the same error
    # (422 invalid_point_id), not 404 point_not_found or `deleted: 0`, and deletes nothing
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    calls = [
        ("POST", "/v1/collections/v/search", '{"query": {"id": "%s"}}', "query.id"),
        ("DELETE", "/v1/collections/v/points", '{"ids": ["a", "%s"]}', "ids"),
        ("POST", "/v1/collections/v/recommend", '{"positive": ["a", "%s"]}', "positive[1]"),
        ("POST", "/v1/collections/v/recommend", '{"negative": ["%s"]}', "negative[0]"),
        ("POST", "/v1/collections/v/recommend", '{"history": [{"id": "%s"}]}', "history[0].id"),
        ("POST", "/v1/rank", '{"query": "q", "collection": "v", "ids": ["a", "%s"]}', "ids[1]"),
    ]
    for method, path, template, field in calls:
        answer = client.request(method, path, content=template % bad_id, headers=JSON)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["code"] == "invalid_point_id"
        assert answer.json()["field"] == field
    assert client.get("/v1/collections/v").json()["count"] == 2


def test_an_id_past_1024_characters_is_refused_and_the_longest_pages(client: TestClient) -> None:
    # a 1 MB id came back as next_offset, and sent as ?offset= the server refused the request line
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    too_long = [{"id": "a", "vector": [1, 0]}, {"id": "é" * 1025, "vector": [0, 1]}]
    answer = client.put("/v1/collections/v/points", json={"points": too_long})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_point_id", answer.text
    longest = [{"id": "é" * 1024, "vector": [0, 1]}, {"id": "ü", "vector": [1, 1]}]
    assert client.put("/v1/collections/v/points", json={"points": longest}).status_code == 200
    first = client.get("/v1/collections/v/points", params={"limit": 1}).json()
    assert first["next_offset"] == "é" * 1024  # a cursor of 6 kB once percent-encoded
    page = client.get("/v1/collections/v/points", params={"offset": first["next_offset"]}).json()
    assert [p["id"] for p in page["points"]] == ["ü"]


def test_the_empty_id_is_paged_like_any_other(client: TestClient) -> None:
    # the page query read "after ''" when no cursor was given, so the point "" was never listed
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": i, "vector": [1, n]} for n, i in enumerate(["b", "", "a"])]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    seen, offset = [], None
    for _ in range(4):
        params = {"limit": 1} if offset is None else {"limit": 1, "offset": offset}
        page = client.get("/v1/collections/v/points", params=params).json()
        seen += [p["id"] for p in page["points"]]
        if (offset := page["next_offset"]) is None:
            break
    assert seen == ["", "a", "b"]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_a_vector_whose_scores_would_overflow_is_refused(client: TestClient, metric: str) -> None:
    # finite float32 values whose products leave float32 answered "score": null (dot, l2) or a
    # zero vector after normalisation (cosine); nothing is written, no search runs
    assert client.post("/v1/collections", json={"name": "v", "dim": 4, "metric": metric}).is_success
    ok = {"id": "ok", "vector": [1, 2, 3, 4]}
    for huge in ([3e38, 1, 1, 1], [1e20] * 4):
        points = {"points": [ok, {"id": "huge", "vector": huge}]}
        answer = client.put("/v1/collections/v/points", json=points)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "non_finite_vector"
        assert answer.json()["field"] == "points[1].vector"
        answer = client.post("/v1/collections/v/search", json={"query": {"vector": huge}})
        assert (answer.status_code, answer.json()["field"]) == (422, "query.vector")
    assert client.get("/v1/collections/v").json()["count"] == 0


def test_a_tiny_vector_keeps_its_direction_under_cosine(client: TestClient) -> None:
    # float32 squares of 1e-25 vanish: the point was stored as zeros and scored 0, not 1
    assert client.post("/v1/collections", json={"name": "v", "dim": 4}).status_code == 201
    points = [{"id": "tiny", "vector": [1e-25] * 4}, {"id": "other", "vector": [1, 0, 0, 0]}]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    for query in ([1, 1, 1, 1], [1e-30] * 4):
        hits = client.post("/v1/collections/v/search", json={"query": {"vector": query}}).json()
        assert hits["results"][0]["id"] == "tiny"
        assert hits["results"][0]["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [  # the field of the request, not pydantic's union member ("input.str", "inputs.list[str]")
        ("/v1/embeddings", {"input": ["ok", None], "model": "fake"}, "input[1]"),
        ("/v1/embeddings", {"input": 123, "model": "fake"}, "input"),
        ("/embed", {"inputs": ["ok", None]}, "inputs[1]"),
        # a JSON true or "32" is not a number: it was read as 1 or 32
        ("/v1/collections", {"name": "x", "dim": True}, "dim"),
        ("/v1/embed", {"encoder": "fake", "inputs": ["a"], "dim": "32"}, "dim"),
        ("/v1/embeddings", {"input": "a", "model": "fake", "dimensions": True}, "dimensions"),
        ("/embed", {"inputs": "a", "normalize": "yes"}, "normalize"),
    ],
)
def test_validation_errors_name_the_requests_own_field(
    client: TestClient, path: str, body: dict, field: str
) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code == refusal_status(path), answer.text
    assert (answer.json()["code"], answer.json()["field"]) == ("validation_error", field)
    assert client.get("/v1/collections").json()["collections"] == []


def _exact_ids(vectors: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    ids = sorted(vectors)
    scores = np.array([float(vectors[i] @ query) for i in ids])
    return [ids[j] for j in np.argsort(-scores, kind="stable")[:k]]


def test_hnsw_k_near_the_live_count_after_replacements_is_answered(
    client: TestClient,
) -> None:
    # 400 points, then the even half replaced: reused slots leave points the graph walk cannot
    # reach, and hnswlib refused k=390 ("Cannot return the results in a contiguous 2D array")
    body = {"name": "h", "dim": 8, "metric": "dot"}
    assert client.post("/v1/collections", json=body).status_code == 201
    rng = np.random.default_rng(0)
    vectors = {str(i): rng.normal(size=8).astype(np.float32) for i in range(400)}
    for ids in (list(vectors), [i for i in vectors if int(i) % 2 == 0]):
        for i in ids:
            vectors[i] = rng.normal(size=8).astype(np.float32)
        points = [{"id": i, "vector": vectors[i].tolist()} for i in ids]
        assert client.put("/v1/collections/h/points", json={"points": points}).status_code == 200
    query = np.full(8, 0.1, np.float32)
    for k in (390, 400, 1000):
        answer = client.post(
            "/v1/collections/h/search",
            json={"query": {"vector": query.tolist()}, "k": k, "with_payload": False},
        )
        assert answer.status_code == 200, answer.text
        found = [hit["id"] for hit in answer.json()["results"]]
        assert len(found) == min(k, 400) == len(set(found))
        overlap = len(set(found) & set(_exact_ids(vectors, query, k))) / len(found)
        assert overlap >= 0.95  # k = 400 and 1000 ask for every point: the whole set


def test_head_is_get_without_a_body_and_405_names_what_is_allowed(client: TestClient) -> None:
    """RFC 9110: what serves GET serves HEAD (FastAPI's routes answered 405), and a 405 lists
    every method the path serves in `Allow` (it had none)."""
    assert client.post("/v1/collections", json={"name": "h", "dim": 2}).status_code == 201
    for path in ("/healthz", "/v1/collections", "/v1/collections/h", "/collections", "/metrics"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b"" and got.content
        assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/v1/collections/nope").status_code == 404
    metrics = client.get("/metrics").text
    assert (
        'nestvec_requests_total{method="HEAD",route="/v1/collections/{name}",status="200"}'
        in metrics
    )
    for method, path, allowed in (
        ("PATCH", "/v1/collections", "GET, HEAD, POST"),
        ("OPTIONS", "/v1/collections/h", "DELETE, GET, HEAD"),
        ("HEAD", "/v1/embed", "POST"),
        ("GET", "/v1/collections/h/search", "POST"),
    ):
        r = client.request(method, path)
        assert r.status_code == 405 and r.headers["allow"] == allowed, (method, path, r.headers)
        if method != "HEAD":
            assert_error(r, 405, "method_not_allowed")


def test_a_part_written_alone_keeps_its_siblings(client: TestClient) -> None:
    """Faces `photo#i` carry `source_id: photo`; a payload update of one face (Qdrant's set
    payload, by filter) or a v1 upsert of one face deleted the photo's other faces."""
    assert client.post("/v1/collections", json={"name": "ph", "dim": 2}).status_code == 201
    faces = [
        {"id": f"photo#{i}", "vector": [1.0, i], "payload": {"source_id": "photo", "face": i}}
        for i in range(3)
    ]
    other = {"id": "other", "vector": [0.0, 1.0], "payload": {}}
    client.put("/v1/collections/ph/points", json={"points": [*faces, other]}).raise_for_status()
    every = ["other", "photo#0", "photo#1", "photo#2"]

    def stored() -> list[str]:
        body = client.get("/v1/collections/ph/points", params={"limit": 10}).json()
        return sorted(p["id"] for p in body["points"])

    update = {
        "payload": {"name": "Alice"},
        "filter": {"must": [{"key": "face", "match": {"value": 0}}]},
    }
    assert client.post("/collections/ph/points/payload", json=update).status_code == 200
    assert stored() == every
    named = client.get("/v1/collections/ph/points", params={"ids": "photo#0"}).json()["points"]
    assert named[0]["payload"] == {"source_id": "photo", "face": 0, "name": "Alice"}
    client.put("/v1/collections/ph/points", json={"points": [faces[1]]}).raise_for_status()
    assert stored() == every
    # the whole photo's id still takes its parts along
    assert client.request(
        "DELETE", "/v1/collections/ph/points", json={"ids": ["photo"]}
    ).json() == {"deleted": 3}
    assert stored() == ["other"]


def test_a_union_members_class_name_stays_out_of_the_field(client: TestClient) -> None:
    """A Cohere document object's bad `text` was located at `documents[0].RankDocument.text`."""
    body = {"query": "q", "documents": [{"text": 5}], "model": "fake"}
    assert_error(client.post("/v1/rerank", json=body), 400, "validation_error", "documents[0].text")
    # a field in capitals is a field, not a class: insertion-order's `M` read as `field: null`
    assert client.post("/v1/collections", json={"name": "io", "dim": 2}).status_code == 201
    r = client.post("/v1/collections/io/analysis/insertion-order", json={"M": 1})
    assert_error(r, 422, "validation_error", "M")


def test_a_delete_with_a_bad_filter_deletes_no_id_either(client: TestClient) -> None:
    """The ids went first, then the filter was refused: 422 over a delete that happened."""
    assert client.post("/v1/collections", json={"name": "dl", "dim": 2}).status_code == 201
    points = [{"id": "keep-me", "vector": [1.0, 0.0]}, {"id": "b", "vector": [0.0, 1.0]}]
    client.put("/v1/collections/dl/points", json={"points": points}).raise_for_status()
    for bad in (
        {"must": [{"key": "g", "match": {"value": 1.5}}]},
        {"must": [{"nested": {"key": "a", "filter": {}}}]},
        {"must": [{"key": "g", "range": {"gt": "x"}}]},
    ):
        body = {"ids": ["keep-me"], "filter": bad}
        answer = client.request("DELETE", "/v1/collections/dl/points", json=body)
        assert_error(answer, 422, "invalid_filter", "filter")
        assert client.post("/v1/collections/dl/count", json={}).json()["count"] == 2


def test_long_any_lists_and_long_should_chains_are_answered(client: TestClient) -> None:
    """A match.any of ~500 values or a should of ~1,000 conditions passed SQLite's expression
    depth: 500 internal_error (without a payload index on the key)."""
    assert client.post("/v1/collections", json={"name": "la", "dim": 2}).status_code == 201
    points = [
        {"id": str(i), "vector": [1.0, i / 300], "payload": {"n": i, "s": f"v{i}", "t": [i, -i]}}
        for i in range(300)
    ]
    client.put("/v1/collections/la/points", json={"points": points}).raise_for_status()

    def count(flt: dict[str, Any]) -> int:
        answer = client.post("/v1/collections/la/count", json={"filter": flt})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["count"])

    many = list(range(100, 2100))  # 200 of them stored
    assert count({"must": [{"key": "n", "match": {"any": many}}]}) == 200
    assert count({"must": [{"key": "s", "match": {"any": [f"v{i}" for i in many]}}]}) == 200
    assert count({"must": [{"key": "n", "match": {"except": many}}]}) == 100
    assert count({"must": [{"key": "t", "match": {"any": [-i for i in many]}}]}) == 200  # arrays
    should = [{"key": "n", "match": {"value": i}} for i in many]
    assert count({"should": should}) == 200
    assert count({"must_not": should}) == 100
    min_should = {"conditions": should[:1500], "min_count": 1}
    assert count({"min_should": min_should}) == 200
    hits = client.post(
        "/v1/collections/la/search",
        json={"query": {"vector": [1.0, 0.0]}, "k": 3, "filter": {"should": should}},
    )
    assert [h["id"] for h in hits.json()["results"]] == ["100", "101", "102"]


def test_a_domain_without_an_encoder_is_refused(client: TestClient) -> None:
    """Stored and never used (an encoder that takes no domain was already refused)."""
    body = {"name": "dom", "dim": 4, "domain": "scifact"}
    assert_error(client.post("/v1/collections", json=body), 422, "invalid_input", "domain")
    assert client.get("/v1/collections/dom").status_code == 404


def test_an_id_asked_twice_is_answered_once(client: TestClient) -> None:
    """As Qdrant's retrieve: each stored point once, in the order first asked."""
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": i, "vector": [1, n]} for n, i in enumerate("abc")]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    got = client.get("/v1/collections/v/points", params={"ids": ["b", "a", "b", "zz", "a"]})
    assert [p["id"] for p in got.json()["points"]] == ["b", "a"]


LAX = [  # (path, body, field): a value of another JSON type was coerced, not refused
    ("/v1/collections/v/search", {"query": {"vector": [1, 0]}, "k": "2"}, "k"),
    ("/v1/collections/v/search", {"query": {"vector": [1, 0]}, "k": True}, "k"),
    ("/v1/collections/v/search", {"query": {"vector": [1, 0]}, "with_payload": "no"}, None),
    ("/v1/collections/v/search", {"query": {"vector": [1, 0]}, "params": {"rescore": "yes"}}, None),
    ("/v1/collections/v/search", {"query": {"vector": [1, 0]}, "params": {"ef": "64"}}, None),
    ("/v1/collections/v/recommend", {"positive": ["a"], "k": True}, "k"),
    ("/v1/rank", {"query": "q", "documents": ["x"], "top_n": True}, "top_n"),
    ("/v1/rank", {"query": "q", "documents": ["x"], "return_documents": "yes"}, None),
    (
        "/v1/faces/verify",
        {
            "a": {"id": "a", "collection": "v"},
            "b": {"id": "b", "collection": "v"},
            "threshold": True,
        },
        "threshold",
    ),
    ("/collections/v/points/search", {"vector": [1, 0], "limit": "2"}, None),
]


@pytest.mark.parametrize(("path", "body", "field"), LAX)
def test_a_value_of_another_json_type_is_refused_not_coerced(
    client: TestClient, path: str, body: dict[str, Any], field: str | None
) -> None:
    """`threshold: true` was 1.0 (two people the same person), `k: "2"` was 2, "no" was false."""
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    if field is not None:
        assert answer.json()["field"] == field


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        ('{"id": "a\\u0000b", "vector": [1, 2]}', "invalid_point_id", "points[2].id"),
        ('{"id": "%s", "vector": [1, 2]}' % ("x" * 1025), "invalid_point_id", "points[2].id"),
        (
            '{"id": "c", "vector": [1, 2], "payload": {"v": NaN}}',
            "invalid_payload",
            "points[2].payload",
        ),
        (
            '{"id": "c", "vector": [1, 2], "payload": {"v": "\\ud800"}}',
            "invalid_payload",
            "points[2].payload",
        ),
    ],
)
def test_a_bad_id_or_payload_in_an_upsert_is_named_by_its_place(
    client: TestClient, bad: str, code: str, field: str
) -> None:
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    body = '{"points": [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}, ' + bad + "]}"
    answer = client.put("/v1/collections/v/points", content=body, headers=JSON)
    assert_error(answer, 422, code, field)
    assert client.get("/v1/collections/v").json()["count"] == 0  # all or nothing


@pytest.mark.parametrize(
    "path",
    [
        "/v1/collections/v/search",
        "/v1/embed",
        "/v1/collections/v/count",
        "/collections/v/points/count",
    ],
)
def test_an_integer_past_4300_digits_is_invalid_json(client: TestClient, path: str) -> None:
    # Python refuses to read such an integer (ValueError): it was a 500 on the search and embed
    # routes and a 400 bad_request elsewhere
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    answer = client.post(path, content=b'{"k": ' + b"9" * 4301 + b"}", headers=JSON)
    if path.startswith("/v1"):
        assert_error(answer, 400, "invalid_json")
    else:  # in Qdrant's envelope
        assert answer.status_code == 400 and "error" in answer.json()["status"], answer.text


DELETE_TWICE = (
    b'{"filter": {"must": [{"key": "t", "match": {"value": "x"}}]}, "filter": {"must": []}}'
)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "/v1/collections/v/points", DELETE_TWICE),
        ("POST", "/collections/v/points/delete", DELETE_TWICE),
        ("POST", "/v1/collections/v/search", b'{"query": {"vector": [1, 0]}, "k": 1, "k": 2}'),
        # inside a payload too, and where an escaped colon (\u003a) evens the colons out
        ("PUT", "/v1/collections/v/points", b'{"points": [{"id": "c", "vector": [1, 1], '
         b'"payload": {"a": "\\u003a", "a": 1}}]}'),
    ],
)  # fmt: skip
def test_a_key_given_twice_is_invalid_json_and_changes_nothing(
    client: TestClient, method: str, path: str, body: bytes
) -> None:
    """Both parsers kept the last: the second, empty filter deleted every point (Qdrant's parser
    refuses a field given twice)."""
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    points = [{"id": i, "vector": [1, 0], "payload": {"t": i}} for i in ("x", "y")]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    answer = client.request(method, path, content=body, headers=JSON)
    message = "duplicate key 'filter'" if b"filter" in body else "duplicate key '"
    if path.startswith("/v1"):
        assert_error(answer, 400, "invalid_json")
        assert message in answer.json()["message"]
    else:  # in Qdrant's envelope
        assert answer.status_code == 400 and message in answer.json()["status"]["error"]
    assert client.get("/v1/collections/v").json()["count"] == 2
    # the same colons in strings, keys given once: served
    once = b'{"points": [{"id": "c:1", "vector": [1, 1], "payload": {"a:b": "\\u003a:"}}]}'
    assert client.put("/v1/collections/v/points", content=once, headers=JSON).status_code == 200


@pytest.mark.parametrize(
    "path", ["/v1/collections/v/search", "/collections/v/points/search", "/v1/embeddings", "/embed"]
)
def test_an_empty_body_is_invalid_json(client: TestClient, path: str) -> None:
    """It was 422 "Field required" at no field; Qdrant's, TEI's and OpenAI's servers answer 400
    (a body of one space was already 400 `invalid_json`)."""
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    for headers in (JSON, {}):
        answer = client.post(path, content=b"", headers=headers)
        assert answer.status_code == 400, answer.text
        if path.startswith("/collections"):
            assert "empty" in answer.json()["status"]["error"]
        else:
            assert_error(answer, 400, "invalid_json")


def test_broken_json_is_not_parsed_twice(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken body went on to the standard parser after orjson refused it, which built every
    value before the break again: a 60 MB one took the server from 0.7 to 1.9 GB."""
    import service.json_body

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the standard parser was called")

    monkeypatch.setattr(service.json_body, "_once_each", refuse)  # its hook, per object read
    assert client.post("/v1/collections", json={"name": "v", "dim": 2}).status_code == 201
    body = b'{"points": [' + b'{"id": "a", "vector": [1.5, 2.5]}, ' * 1000 + b'{"id": '
    answer = client.put("/v1/collections/v/points", content=body, headers=JSON)
    assert_error(answer, 400, "invalid_json")


@pytest.mark.parametrize(
    "body",
    [
        b'{"a:b": "c:d", "url": "http://x:80/y", "q": "say \\":\\" twice"}',
        b'{"v": [1.5, 2.5], "m": [1, "x:y", {"k": ":"}], "n": [1.5, null, "a:"]}',
        b'{"e": "\\u003a", "f": "\\u0022:", "g\\u003a": 1}',
        b'[{"a": {"b": {"c": [{"d": ":"}]}}}, ":", [[]], {}]',
        b'\xef\xbb\xbf{"bom": "a UTF-8 byte order mark, as .NET writes one"}',
    ],
)
def test_keys_given_once_are_read_whatever_their_colons(body: bytes) -> None:
    """The duplicate-key check counts colons: colons in keys, values, escapes and lists of any
    kind must not pass for a lost key."""
    from service.json_body import parse_json

    assert parse_json(body) == json.loads(body.decode("utf-8-sig"))

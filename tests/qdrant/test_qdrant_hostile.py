"""Bad bodies on the Qdrant-compatible routes: a 4xx in Qdrant's error shape, never a 500;
unknown fields are refused; auth applies to every route as declared."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

C = "/collections/qc"
JSON_TYPE = {"content-type": "application/json"}
VEC = [0.1, 0.2, 0.3, 0.4]
BAD: list[tuple[str, str, Any, int]] = [
    ("PUT", "/collections/x", {"vectors": {"size": 4, "distance": "Manhattan"}}, 422),
    ("PUT", "/collections/x", {"vectors": {"a": {"size": 4, "distance": "Cosine"}}}, 422),
    ("PUT", "/collections/x", {"vectors": {"size": 0, "distance": "Cosine"}}, 422),
    ("PUT", "/collections/x", {"vectors": {"size": "4", "distance": "Cosine"}}, 422),
    (
        "PUT",
        "/collections/x",
        {"vectors": {"size": 4, "distance": "Cosine"}, "hnsw_config": {"ef_constuct": 50}},
        422,
    ),
    (
        "PUT",
        "/collections/x",
        {"vectors": {"size": 4, "distance": "Cosine", "hnsw_config": {"bogus": 1}}},
        422,
    ),
    ("PUT", "/collections/x", {"vectors": {"size": 4, "distance": "Cosine"}, "bogus": 1}, 422),
    ("PUT", "/collections/x", {"sparse_vectors": {"s": {}}}, 422),
    ("PUT", "/collections/x", {}, 422),  # no vectors: it said named vectors are unsupported
    # kept nowhere: a collection created without them would silently lack the user's data
    (
        "PUT",
        "/collections/x",
        {"vectors": {"size": 4, "distance": "Dot"}, "metadata": {"a": 1}},
        422,
    ),
    (
        "PUT",
        "/collections/x",
        {"vectors": {"size": 4, "distance": "Dot"}, "init_from": {"collection": "qc"}},
        422,
    ),
    ("PUT", "/collections/bad%20name!", {"vectors": {"size": 4, "distance": "Cosine"}}, 422),
    ("PUT", "/collections/qc", {"vectors": {"size": 4, "distance": "Cosine"}}, 409),
    ("PUT", f"{C}/points", {"points": [{"id": -1, "vector": VEC}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 2**64, "vector": VEC}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": "not-a-uuid", "vector": VEC}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": True, "vector": VEC}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1.5, "vector": VEC}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": [1.0]}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": [1e300, 0, 0, 0]}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": {"a": VEC}}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": [True, 0.2, 0.3, 0.4]}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": ["0.1", 0.2, 0.3, 0.4]}]}, 422),
    ("PUT", f"{C}/points", {"batch": {"ids": [1], "vectors": [[True, 2, 3, 4]]}}, 422),
    ("POST", f"{C}/points/payload", {"payload": {"z": 1}, "points": [1], "key": "l[0]"}, 422),
    ("POST", f"{C}/points/payload", {"payload": {"z": 1}, "points": [1], "key": ""}, 422),
    ("POST", f"{C}/points/payload", {"payload": {"z": 1}, "points": [1], "key": "a..b"}, 422),
    ("POST", f"{C}/points/payload/delete", {"keys": ["l[]"], "points": [1]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": {"": "abc"}}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": {"": None}}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": {"": [[1, 2], [3, 4]]}}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": {"": [10**400, 1, 2, 3]}}]}, 422),
    ("PUT", f"{C}/points", {"batch": {"ids": [1], "vectors": {"": None}}}, 422),
    ("PUT", f"{C}/points", {"batch": {"ids": [1], "vectors": {"": [["a", 2, 3, 4]]}}}, 422),
    ("PUT", f"{C}/points", {"batch": {"ids": [1], "vectors": {"": [{"a": 1}]}}}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": VEC, "payload": [1]}]}, 422),
    ("PUT", f"{C}/points", {"points": [{"id": 1, "vector": VEC, "bogus": 1}]}, 422),
    ("PUT", f"{C}/points", {"points": [], "batch": {"ids": [], "vectors": []}}, 422),
    ("PUT", f"{C}/points", {"batch": {"ids": [1, 2], "vectors": [VEC]}}, 422),
    ("PUT", f"{C}/points", {}, 422),
    ("PUT", "/collections/nothing/points", {"points": [{"id": 1, "vector": VEC}]}, 404),
    ("POST", f"{C}/points", {"ids": [{"a": 1}]}, 422),
    ("POST", f"{C}/points/scroll", {"limit": 0}, 422),
    ("POST", f"{C}/points/scroll", {"limit": 3, "offset": "\ud800"}, 422),
    ("POST", f"{C}/points/scroll", {"limit": 3, "offset": "a\u0000"}, 422),
    ("POST", f"{C}/points/scroll", {"offset": {"a": 1}}, 422),
    ("POST", f"{C}/points/scroll", {"filter": {"must": [{"key": "a", "match": {}}]}}, 422),
    ("POST", f"{C}/points/scroll", {"filter": {"must": [{"has_id": "1"}]}}, 422),
    ("POST", f"{C}/points/scroll", {"filter": {"must": [{"is_empty": {}}]}}, 422),
    ("POST", f"{C}/points/scroll", {"filter": {"min_should": {"conditions": []}}}, 422),
    ("POST", f"{C}/points/scroll", {"order_by": "n"}, 422),
    (
        "POST",
        f"{C}/points/count",
        {"filter": {"must": [{"key": 'a"b', "match": {"value": 1}}]}},
        422,
    ),
    ("POST", f"{C}/points/count", {"filter": 3}, 422),
    ("POST", f"{C}/points/query", {"query": {"fusion": "rrf"}}, 422),
    ("POST", f"{C}/points/query", {"query": True}, 422),
    ("POST", f"{C}/points/query", {"query": None}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "prefetch": [{"query": VEC}]}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "limit": 0}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "offset": -1}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "with_payload": {"only": ["a"]}}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "score_threshold": "x"}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "params": {"hnsw_ef": 0}}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "using": "other"}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "limit": 10**9}, 422),
    ("POST", f"{C}/points/query", {"query": 424242}, 404),
    ("POST", f"{C}/points/query", {"query": {"recommend": {"positive": "1"}}}, 422),
    ("POST", f"{C}/points/query", {"query": {"recommend": {"positive": [1], "bad": 1}}}, 422),
    (
        "POST",
        f"{C}/points/query",
        {"query": {"recommend": {"positive": [1], "strategy": "x"}}},
        422,
    ),
    ("POST", f"{C}/points/query", {"query": VEC, "bogus": 1}, 422),
    ("POST", f"{C}/points/query", {"query": ["a", "b", "c", "d"]}, 422),
    ("POST", f"{C}/points/query", {"query": [VEC]}, 422),
    ("POST", f"{C}/points/query", {"query": [True, 1, 2, 3]}, 422),
    ("POST", f"{C}/points/query", {"query": {"nearest": {"x": 1}}}, 422),
    ("POST", f"{C}/points/query", {"query": {"recommend": {"positive": [["a"]]}}}, 422),
    ("POST", f"{C}/points/query", {"query": {"recommend": {"positive": [{"a": 1}]}}}, 422),
    ("POST", f"{C}/points/query", {"query": {"recommend": {"positive": [1], "strategy": 5}}}, 422),
    ("POST", f"{C}/points/query", {"query": {"recommend": {"positive": [1.5]}}}, 422),
    ("POST", f"{C}/points/query", {"query": {"recommend": []}}, 422),
    ("POST", f"{C}/points/query", {"query": "not-a-point"}, 404),
    ("POST", f"{C}/points/query/batch", {"searches": [{"query": {"fusion": "rrf"}}]}, 422),
    ("POST", f"{C}/points/search", {"vector": {"name": "a", "vector": VEC}}, 422),
    ("POST", f"{C}/points/search", {"vector": {"": "2"}}, 422),
    ("POST", f"{C}/points/query", {"query": VEC, "score_threshold": float("nan")}, 422),
    ("POST", f"{C}/points/search", {"vector": VEC, "score_threshold": float("inf")}, 422),
    ("POST", f"{C}/points/recommend", {"positive": [999]}, 404),
    ("POST", f"{C}/points/payload", {"payload": {"a": 1}}, 422),
    ("POST", f"{C}/points/payload", {"payload": [1], "points": [1]}, 422),
    ("PUT", f"{C}/points/payload", {"payload": {"a": 1}, "points": [1], "key": "a"}, 422),
    ("POST", f"{C}/points/payload/delete", {"keys": "a", "points": [1]}, 422),
    ("POST", f"{C}/points/delete", {}, 422),
    ("PUT", f"{C}/index", {"field_name": "g", "field_schema": "geo"}, 422),
    ("PUT", f"{C}/index", {"field_name": 'a"b', "field_schema": "keyword"}, 422),
    ("PUT", f"{C}/index", {"field_name": "a[].b", "field_schema": "keyword"}, 422),
    # an index that is not there is done, as in Qdrant (test_qdrant_client); a collection is not
    ("DELETE", "/collections/nothing/index/never", None, 404),
    # a selector is ids or a filter: both were a union, and `{}` matches every point
    ("POST", f"{C}/points/delete", {"points": [1], "filter": {}}, 422),
    ("POST", f"{C}/points/payload/clear", {"points": [1], "filter": {}}, 422),
    ("GET", f"{C}/points/abc", None, 404),
    ("GET", "/collections/nothing", None, 404),
]


@pytest.fixture
def qc(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client()
    body = {"vectors": {"size": 4, "distance": "Cosine"}}
    assert client.put("/collections/qc", json=body).json()["result"] is True
    points = [{"id": i, "vector": VEC, "payload": {"n": i}} for i in range(3)]
    assert client.put(f"{C}/points", json={"points": points}).status_code == 200
    return client


def assert_qdrant_error(r: Any, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"status", "time"} and isinstance(body["status"]["error"], str), body
    assert body["status"]["error"]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD)
def test_bad_request_is_a_qdrant_4xx(
    qc: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    # Python's own JSON text: escapes lone surrogates, writes NaN and Infinity as a client may
    content = None if body is None else json.dumps(body).encode()
    answer = qc.request(method, path, content=content, headers=JSON_TYPE)
    assert_qdrant_error(answer, status)
    assert qc.post(f"{C}/points/count", json={}).json()["result"] == {"count": 3}


def test_invalid_json_and_wrong_types(qc: TestClient) -> None:
    r = qc.put(f"{C}/points", content=b'{"points": [', headers={"content-type": "application/json"})
    assert_qdrant_error(r, 400)
    assert_qdrant_error(qc.post(f"{C}/points/scroll", json=[1, 2]), 422)


def test_user_text_is_never_sql(qc: TestClient) -> None:
    hostile = "x') OR 1=1 --"
    for flt in (
        {"must": [{"key": "n", "match": {"text": hostile}}]},
        {"must": [{"has_id": [hostile]}]},
        {"must": [{"is_null": {"key": hostile}}]},
        {"must": [{"key": hostile, "values_count": {"gte": 0}}]},
    ):
        r = qc.post(f"{C}/points/count", json={"filter": flt})
        assert r.status_code == 200, r.text
    counts = [
        qc.post(f"{C}/points/count", json={"filter": flt}).json()["result"]["count"]
        for flt in ({"must": [{"has_id": [hostile]}]}, {"must": [{"is_null": {"key": hostile}}]})
    ]
    assert counts == [0, 0]


def test_write_routes_need_a_write_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=["full"], read_only_keys=["read"])
    full, read = {"api-key": "full"}, {"api-key": "read"}
    body = {"vectors": {"size": 4, "distance": "Dot"}}
    assert_qdrant_error(client.put("/collections/k", json=body, headers=read), 403)
    assert client.put("/collections/k", json=body, headers=full).status_code == 200
    assert client.get("/collections/k", headers=read).status_code == 200
    assert client.get("/", headers=read).json()["version"]
    assert client.get("/collections", headers={}).status_code == 401
    points = {"points": [{"id": 1, "vector": VEC}]}
    assert_qdrant_error(client.put("/collections/k/points", json=points, headers=read), 403)
    assert client.post("/collections/k/points/query", json={"query": VEC}, headers=read).json()[
        "result"
    ] == {"points": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", C),
        ("POST", "/collections/aliases"),
        ("GET", "/aliases"),
        ("GET", f"{C}/aliases"),
        ("PUT", f"{C}/points/vectors"),
        ("POST", f"{C}/points/vectors/delete"),
        ("POST", f"{C}/points/batch"),
        ("POST", f"{C}/points/search/batch"),
        ("POST", f"{C}/snapshots"),
        ("GET", f"{C}/cluster"),
        ("POST", f"{C}/facet"),
        # Qdrant's service routes (the client's cluster_status, list_full_snapshots)
        ("GET", "/cluster"),
        ("POST", "/cluster/recover"),
        ("GET", "/snapshots"),
        ("POST", "/snapshots"),
        ("GET", "/telemetry"),
        ("GET", "/locks"),
        ("GET", "/issues"),
    ],
)
def test_unserved_qdrant_routes_are_422_naming_the_route(
    qc: TestClient, method: str, path: str
) -> None:
    """README: "Not supported (422)"; they were bare 404s and 405s in nestvec's own shape."""
    answer = qc.request(method, path, json={})
    assert answer.status_code == 422, answer.text
    error = answer.json()["status"]["error"]
    assert f"{method} {path}" in error and "does not serve" in error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{C}/points/serch"),  # a typo
        ("POST", C),
        ("DELETE", f"{C}/points/count"),
        ("POST", f"{C}/points/7"),  # Qdrant's points/{id} is GET only
        ("GET", "/collections/"),
        ("GET", f"{C}/points/search/more"),
    ],
)
def test_paths_that_are_no_qdrant_api_are_404(qc: TestClient, method: str, path: str) -> None:
    """They read "a Qdrant API nestvec does not serve" (422); Qdrant has no such route (404)."""
    answer = qc.request(method, path, json={})
    assert answer.status_code == 404, answer.text
    assert "no such Qdrant API" in answer.json()["status"]["error"]


def test_a_path_id_is_read_as_qdrant_reads_it(qc: TestClient) -> None:
    """Qdrant parses a path id as an unsigned integer first: `01` and `+1` are point 1 (they were
    404 here); a /v1 point written as the string "01" is still found by its own spelling."""
    for spelling in ("1", "01", "+1", "0001"):
        answer = qc.get(f"{C}/points/{spelling}")
        assert answer.status_code == 200 and answer.json()["result"]["id"] == 1, spelling
    put = {"points": [{"id": "01", "vector": VEC}]}
    assert qc.put("/v1/collections/qc/points", json=put).status_code == 200
    assert qc.get(f"{C}/points/01").json()["result"]["id"] == 1  # Qdrant's reading wins
    assert qc.post(f"{C}/points/delete", json={"points": [1]}).status_code == 200
    assert qc.get(f"{C}/points/01").json()["result"]["id"] == "01"
    assert_qdrant_error(qc.get(f"{C}/points/{'9' * 30}"), 404)  # past 64 bits: no such point


def test_livez_is_liveness_as_in_qdrant(qc: TestClient) -> None:
    assert qc.get("/livez").json() == qc.get("/healthz").json() == {"status": "ok"}


def test_offset_plus_limit_past_the_cap_says_so(qc: TestClient) -> None:
    """It named `k`, a field of no Qdrant request."""
    for query in ({"query": VEC}, {"query": {"recommend": {"positive": [1]}}}):
        answer = qc.post(f"{C}/points/query", json={**query, "limit": 10, "offset": 995})
        assert_qdrant_error(answer, 422)
        assert "offset + limit must be at most 1000" in answer.json()["status"]["error"]
        assert "NESTVEC_MAX_K" in answer.json()["status"]["error"]  # which setting to raise


def test_one_scroll_of_9999_reads_every_point_as_llamaindex_does(qc: TestClient) -> None:
    """LlamaIndex's Qdrant store reads all nodes with one scroll of 9,999 and no next page: a
    page cap of 1,000 silently cut its `get_nodes()` short."""
    qc.put("/collections/many", json={"vectors": {"size": 2, "distance": "Dot"}})
    points = [{"id": i, "vector": [1.0, float(i)], "payload": {"i": i}} for i in range(1500)]
    assert qc.put("/collections/many/points", json={"points": points}).status_code == 200
    page = qc.post("/collections/many/points/scroll", json={"limit": 9999}).json()["result"]
    assert len(page["points"]) == 1500 and page["next_page_offset"] is None


def test_optional_qdrant_fields_may_be_null_and_search_takes_the_named_unnamed_vector(
    qc: TestClient,
) -> None:
    """Valid Qdrant bodies that were 422: null `offset` / `limit` (optional in Qdrant) and
    search's NamedVector form with the unnamed vector's name ""."""
    plain = qc.post(f"{C}/points/search", json={"vector": VEC, "limit": 3}).json()["result"]
    for path, body in [
        ("search", {"vector": VEC, "limit": 3, "offset": None}),
        ("search", {"vector": {"name": "", "vector": VEC}, "limit": 3}),
        ("query", {"query": VEC, "limit": None, "offset": None}),
    ]:
        answer = qc.post(f"{C}/points/{path}", json=body)
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        hits = result["points"] if path == "query" else result
        assert [h["id"] for h in hits] == [h["id"] for h in plain]


def test_with_vectors_is_qdrants_alias_of_with_vector(qc: TestClient) -> None:
    """Qdrant's request structs take `with_vectors` too (a serde alias); it was a 422 here."""
    for path, body in [
        ("", {"ids": [1]}),
        ("/scroll", {"limit": 1}),
        ("/search", {"vector": VEC, "limit": 1}),
        ("/query", {"query": VEC, "limit": 1}),
    ]:
        answer = qc.post(f"{C}/points{path}", json={**body, "with_vectors": True})
        assert answer.status_code == 200, (path, answer.text)
        result = answer.json()["result"]
        first = (result["points"] if path in ("/scroll", "/query") else result)[0]
        assert len(first["vector"]) == len(VEC), (path, first)


def test_collection_info_carries_what_older_qdrant_clients_require(qc: TestClient) -> None:
    """qdrant-client up to 1.17 requires these two optimizer fields: its get_collection raised."""
    optimizer = qc.get(C).json()["result"]["config"]["optimizer_config"]
    assert {"deleted_threshold", "vacuum_min_vector_number"} <= set(optimizer)


def test_a_null_in_a_query_vector_says_nan_and_inf_arrive_so(qc: TestClient) -> None:
    """qdrant-client writes NaN and inf as null; the answer spoke of multivectors."""
    nan = [None, 0.2, 0.3, 0.4]
    for body in ({"query": nan}, {"query": {"recommend": {"positive": [nan]}}}):
        answer = qc.post(f"{C}/points/query", json=body)
        assert_qdrant_error(answer, 422)
        assert "finite numbers (NaN and inf arrive as null)" in answer.json()["status"]["error"]
    answer = qc.post(f"{C}/points/query", json={"query": [[0.1, 0.2, 0.3, 0.4]]})
    assert "multivectors are not supported" in answer.json()["status"]["error"]


def test_phrase_and_any_word_matches_are_refused_by_name(qc: TestClient) -> None:
    """Qdrant's `match.phrase` and `match.text_any` were refused as "Extra inputs"."""
    for name in ("phrase", "text_any"):
        body = {"query": VEC, "filter": {"must": [{"key": "t", "match": {name: "a b"}}]}}
        answer = qc.post(f"{C}/points/query", json=body)
        assert_qdrant_error(answer, 422)
        assert f"match.{name} is not supported" in answer.json()["status"]["error"]

"""Auth, limits, metrics and request ids through the real app."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from support import LiveServer, assert_error

FULL, READ = {"Authorization": "Bearer full-key"}, {"api-key": "read-key"}


def test_api_keys(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=["full-key"], read_only_keys=["read-key"])
    assert client.get("/healthz").status_code == 200  # probes stay open
    assert client.get("/readyz").status_code == 200
    r = client.get("/v1/collections")
    assert_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    assert_error(client.get("/v1/collections", headers={"api-key": "wrong"}), 401, "unauthorized")
    body = {"name": "v", "dim": 2}
    assert client.post("/v1/collections", json=body, headers=FULL).status_code == 201
    assert_error(
        client.post("/v1/collections", json=body | {"name": "w"}, headers=READ), 403, "forbidden"
    )
    points = {"points": [{"id": "a", "vector": [1, 0]}]}
    assert_error(
        client.put("/v1/collections/v/points", json=points, headers=READ), 403, "forbidden"
    )
    assert client.put("/v1/collections/v/points", json=points, headers=FULL).status_code == 200
    search = {"query": {"vector": [1, 0]}, "k": 1}
    r = client.post("/v1/collections/v/search", json=search, headers=READ)
    assert r.json()["results"][0]["id"] == "a"  # reading with a read-only key works
    assert client.get("/v1/collections/v", headers=READ).status_code == 200
    assert_error(client.delete("/v1/collections/v", headers=READ), 403, "forbidden")


def test_requests_refused_before_routing_are_counted_under_their_route(
    make_client: Callable[..., TestClient],
) -> None:
    """A 401, 413 or 429 from the middleware is counted under the route it was for, as a 404
    on no route stays `unmatched` (they all read "unmatched": an auth storm hid its target)."""
    client = make_client(api_keys=["full-key"], max_body_bytes=2000)
    client.post("/v1/collections/v/search", json={"k": 1})
    client.put("/v1/collections/v/points", content=b"x" * 3000, headers=FULL)
    client.get("/no/such/path", headers=FULL)
    text = client.get("/metrics", headers=FULL).text
    search = 'route="/v1/collections/{name}/search",status="401"'
    upsert = 'route="/v1/collections/{name}/points",status="413"'
    assert search in text and upsert in text, text
    assert 'nestvec_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text


def test_refused_requests_count_under_the_route_of_their_method(
    make_client: Callable[..., TestClient],
) -> None:
    """A refused Qdrant scroll was counted as `/points/{point_id}` (the first route whose path
    matched, for GET), and a payload-index drop under two labels (`{field_name:path}` once
    routed, `{field_name}` when refused)."""
    client = make_client(api_keys=["full-key"])
    client.post("/collections/c/points/scroll", json={})
    client.delete("/v1/collections/c/payload_index/f")
    client.delete("/v1/collections/c/payload_index/f", headers=FULL)
    text = client.get("/metrics", headers=FULL).text
    assert 'route="/collections/{name}/points/scroll",status="401"' in text, text
    drops = [line for line in text.splitlines() if "payload_index/" in line and "total{" in line]
    assert {line.split('route="')[1].split('"')[0] for line in drops} == {
        "/v1/collections/{name}/payload_index/{field_name}"
    }, drops


def test_body_size_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=2000)
    client.post("/v1/collections", json={"name": "v", "dim": 600})
    big = {"points": [{"id": "a", "vector": [0.5] * 600}]}
    assert_error(client.put("/v1/collections/v/points", json=big), 413, "too_large")
    assert client.get("/v1/collections/v").json()["count"] == 0


def test_a_coded_body_is_415_and_writes_nothing(client: TestClient) -> None:
    """A gzip body was read as it came: 400 `invalid_json`, as if the JSON were wrong."""
    client.post("/v1/collections", json={"name": "g", "dim": 2})
    body = gzip.compress(b'{"points": [{"id": "a", "vector": [1, 0]}]}')
    for coding in ("gzip", "br", "deflate, gzip", "gzip\ncontent-encoding: identity"):
        headers = [("content-type", "application/json")]  # a second header hid the first
        headers += [("content-encoding", value) for value in coding.split("\ncontent-encoding: ")]
        r = client.put("/v1/collections/g/points", content=body, headers=headers)
        assert_error(r, 415, "unsupported_media_type")
        assert "Content-Encoding" in r.json()["message"]
        qdrant = client.put("/collections/g/points", content=body, headers=headers)
        assert qdrant.status_code == 415 and "Content-Encoding" in qdrant.json()["status"]["error"]
    assert client.get("/v1/collections/g").json()["count"] == 0
    # a session default on a request without a body (a GET, a probe) is no coded body
    assert client.get("/v1/collections/g", headers={"content-encoding": "gzip"}).status_code == 200
    assert client.get("/healthz", headers={"content-encoding": "gzip"}).status_code == 200
    plain = {"content-type": "application/json", "content-encoding": "identity"}
    r = client.put("/v1/collections/g/points", content=gzip.decompress(body), headers=plain)
    assert r.json() == {"upserted": 1}


def test_rate_limit_per_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=60, api_keys=["full-key"])  # burst of 10
    codes = [client.get("/v1/collections", headers=FULL).status_code for _ in range(15)]
    assert codes[:10] == [200] * 10 and codes[-1] == 429
    r = client.get("/v1/collections", headers=FULL)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    assert client.get("/healthz").status_code == 200  # probes are not limited


def test_liveness_probes_are_never_limited(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=60)  # by address; burst of 10
    codes = [client.get(path).status_code for path in ("/livez", "/healthz") * 14]
    assert set(codes) == {200}, codes  # /livez, /healthz's alias, was limited


def test_refused_keys_are_rate_limited_by_address(make_client: Callable[..., TestClient]) -> None:
    """The limit keys requests by their API key, so guesses (each an unknown key) were never
    throttled: refusals now count against the client address."""
    client = make_client(rate_limit_per_minute=60, api_keys=["full-key"])  # burst of 10
    codes = [
        client.get("/v1/collections", headers={"api-key": f"guess{i}"}).status_code
        for i in range(15)
    ]
    assert codes[:10] == [401] * 10 and codes[-1] == 429, codes
    assert client.get("/v1/collections", headers=FULL).status_code == 200  # the key's own


def test_tei_root_post_is_refused_in_teis_shape(make_client: Callable[..., TestClient]) -> None:
    """`POST /` is TEI's embed: its 401 came in Qdrant's envelope (GET / is Qdrant's root)."""
    client = make_client(api_keys=["full-key"])
    r = client.post("/", json={"inputs": "x"})
    assert_error(r, 401, "unauthorized")
    assert r.json()["error_type"] == "Validation"
    assert "error" in client.get("/").json()["status"]


def test_metrics_and_request_ids(client: TestClient) -> None:
    client.post("/v1/collections", json={"name": "docs", "encoder": "fake"})
    client.put("/v1/collections/docs/points", json={"points": [{"id": "a", "text": "hello"}]})
    r = client.post(
        "/v1/embed", json={"encoder": "fake", "inputs": ["x"]}, headers={"x-request-id": "abc"}
    )
    assert r.headers["x-request-id"] == "abc"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32  # generated when absent
    # bytes past ASCII came back as other bytes (latin-1 in, UTF-8 out): a new id instead
    odd = client.get("/healthz", headers={"x-request-id": b"caf\xe9\xff-id"})
    assert "caf" not in odd.headers["x-request-id"]
    assert len(odd.headers["x-request-id"]) == 32
    text = client.get("/metrics").text
    assert 'nestvec_requests_total{method="POST",route="/v1/embed",status="200"} 1.0' in text
    assert 'nestvec_index_points{collection="docs"} 1.0' in text
    assert 'nestvec_encode_batch_size_count{encoder="fake"}' in text
    assert "nestvec_request_seconds_bucket" in text and "nestvec_index_tombstone_ratio" in text
    # the README's last measured recall: absent until measured, then the report's figure
    assert 'nestvec_collection_recall{collection="docs"}' not in text
    more = [{"id": p, "text": f"text {p}"} for p in "bcd"]
    client.put("/v1/collections/docs/points", json={"points": more})
    recall = client.post("/v1/collections/docs/analysis/recall", json={"queries": 2, "k": 1})
    assert recall.status_code == 200, recall.text
    measured = recall.json()["recall"]
    text = client.get("/metrics").text
    assert f'nestvec_collection_recall{{collection="docs"}} {float(measured)}' in text
    # a new collection of that name has no measured recall yet
    assert client.delete("/v1/collections/docs").status_code == 200
    client.post("/v1/collections", json={"name": "docs", "encoder": "fake"})
    assert 'nestvec_collection_recall{collection="docs"}' not in client.get("/metrics").text


def test_a_chunked_upload_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    """Multipart's parser caught the overflow and answered its own 400."""
    client = make_client(max_body_bytes=2000)
    part = b'--zz\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\n'

    def chunks() -> Iterator[bytes]:  # a generator: sent chunked, with no Content-Length
        yield part
        for _ in range(10):
            yield b"x" * 500
        yield b"\r\n--zz--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=zz"}
    r = client.post("/v1/embed/upload", content=chunks(), headers=headers)
    assert_error(r, 413, "too_large")


def test_a_multipart_form_cut_short_is_400_not_a_missing_file(client: TestClient) -> None:
    """Without its closing boundary the form parsed as having no file: 422 `files` required."""
    part = b'--zz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\nPNG'
    headers = {"content-type": "multipart/form-data; boundary=zz"}
    for path in ("/v1/embed/upload", "/v1/collections/any/points/upload"):
        assert_error(client.post(path, content=part, headers=headers), 400, "bad_request")
    whole = part + b"\r\n--zz--\r\n"  # the same form whole: refused for what it holds
    r = client.post("/v1/embed/upload", content=whole, headers=headers)
    assert r.status_code == 422 and r.json()["code"] != "validation_error", r.text


def test_a_client_leaving_mid_body_is_no_server_error(tmp_path: Path) -> None:
    """The search, embed and OpenAI routes answered 500 with two tracebacks."""
    server = LiveServer(tmp_path / "data", env={"NESTVEC_PRELOAD_ENCODERS": ""}).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        for path in ("/v1/embed", "/v1/embeddings", "/v1/collections/x/search"):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                raw.sendall(f"{head}Content-Length: 500\r\n\r\n".encode() + b'{"inputs": ["x"')
                raw.shutdown(socket.SHUT_WR)  # gone before the 500 bytes it announced
                raw.recv(4096)
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
        assert 'status="500"' not in metrics, [m for m in metrics.splitlines() if "500" in m]
        assert 'status="499"' in metrics and 'status="400"' not in metrics  # the client left
    finally:
        server.stop()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_declared_as_another_type_is_415(
    client: TestClient, content_type: str | None
) -> None:
    """curl -d sends form-urlencoded: it was a puzzling 422 "a valid dictionary" (Qdrant's
    paths answer it in Qdrant's shape); so was a body with no content type at all."""
    client.post("/v1/collections", json={"name": "t", "dim": 2})
    headers = {"content-type": content_type} if content_type else {}
    for method, path, body in (
        ("POST", "/v1/collections/t/search", b'{"query": {"vector": [1, 0]}}'),
        ("PUT", "/v1/collections/t/points", b'{"points": [{"id": "a", "vector": [1, 0]}]}'),
        ("POST", "/v1/collections", b'{"name": "u", "dim": 2}'),
    ):
        r = client.request(method, path, content=body, headers=headers)
        assert_error(r, 415, "unsupported_media_type")
        assert (content_type or "Content-Type: application/json") in r.json()["message"]
    r = client.put("/collections/t/points", content=b"{}", headers=headers)
    assert r.status_code == 415 and "must be JSON" in r.json()["status"]["error"]
    ok = {"content-type": "application/json; charset=utf-8"}
    body = b'{"points": [{"id": "a", "vector": [1, 0]}]}'
    assert client.put("/v1/collections/t/points", content=body, headers=ok).status_code == 200


def test_rate_limit_buckets_forget_idle_keys() -> None:
    """One bucket per client address was kept for ever."""
    from service.limits import TokenBucket

    bucket = TokenBucket(rate=1000.0, burst=2)  # a used bucket is full again after 1 ms
    for i in range(3 * TokenBucket.PRUNE_PAST):
        assert bucket.take(f"addr:{i}") == 0.0
        if i % 1000 == 0:
            time.sleep(0.002)
    assert len(bucket._state) <= TokenBucket.PRUNE_PAST + 1
    busy = TokenBucket(rate=0.001, burst=1)
    busy.take("a")
    assert busy.take("a") > 0  # a drained bucket is not forgotten: the limit holds

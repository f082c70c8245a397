"""A collection with `index: {type: milvus}` over REST, on Milvus Lite: the same answers as a
local collection, restart and crash keep everything, settings choose where Milvus is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DOCS, LiveServer, assert_error, create_docs, free_port, milvus_lite_uri

pymilvus = pytest.importorskip("pymilvus")

DIM = 16
N = 300
VECTORS = np.random.default_rng(7).normal(size=(N + 40, DIM)).astype(np.float32)
URI = milvus_lite_uri()  # one embedded Milvus Lite for the module (NESTVEC_MILVUS_URI)
COLORS = ["red", "green", "blue"]


def payload(i: int) -> dict[str, Any]:
    return {
        "color": COLORS[i % 3],
        "size": i % 11 if i % 4 else (i % 11) + 0.5,
        "tags": [COLORS[i % 2], i % 5] if i % 7 else [],
        "meta": {"level": i % 4},
    }


FILTERS: list[dict[str, Any]] = [
    {"must": [{"key": "color", "match": {"value": "red"}}]},
    {"must": [{"key": "size", "range": {"gte": 2, "lt": 6.5}}]},
    {
        "should": [
            {"key": "tags", "match": {"any": ["green", 3]}},
            {"key": "meta.level", "match": {"value": 0}},
        ]
    },
    {"must_not": [{"key": "tags", "match": {"except": ["red"]}}]},
    {
        "must": [{"must_not": [{"key": "color", "match": {"value": "blue"}}]}],
        "must_not": [{"key": "size", "range": {"lt": 3}}],
    },
]


def fill(client: TestClient, name: str, index: dict[str, Any]) -> None:
    body = {"name": name, "dim": DIM, "metric": "l2", "index": index}
    assert client.post("/v1/collections", json=body).status_code == 201, name
    points = [
        {"id": f"p{i}", "vector": VECTORS[i].tolist(), "payload": payload(i)} for i in range(N)
    ]
    client.put(f"/v1/collections/{name}/points", json={"points": points}).raise_for_status()
    # replace some (new vector and payload), delete some by id and some by filter
    again = [
        {"id": f"p{i}", "vector": VECTORS[N + i].tolist(), "payload": {**payload(i), "v": 2}}
        for i in range(0, 40)
    ]
    client.put(f"/v1/collections/{name}/points", json={"points": again}).raise_for_status()
    gone = {"ids": [f"p{i}" for i in range(40, 60)]}
    assert client.request("DELETE", f"/v1/collections/{name}/points", json=gone).json() == {
        "deleted": 20
    }
    where = {"filter": {"must": [{"key": "meta.level", "match": {"value": 3}}]}}
    r = client.request("DELETE", f"/v1/collections/{name}/points", json=where)
    assert r.json()["deleted"] > 0


def answers(client: TestClient, name: str) -> list[Any]:
    """Every read the API offers, as JSON: searches (filtered, by id, batch), counts, fetches."""
    base = f"/v1/collections/{name}"
    out: list[Any] = [client.get(base).json()["count"]]
    for i, flt in enumerate(FILTERS):
        query = {"query": {"vector": VECTORS[i].tolist()}, "k": 15, "filter": flt}
        out.append(client.post(f"{base}/search", json=query).json())
        out.append(client.post(f"{base}/count", json={"filter": flt}).json())
    searches = [{"query": {"vector": VECTORS[i].tolist()}, "k": 5} for i in range(60, 70)]
    out.append(client.post(f"{base}/search/batch", json={"searches": searches}).json())
    by_id = {"query": {"id": "p100"}, "k": 5, "with_payload": False, "with_vector": True}
    out.append(client.post(f"{base}/search", json=by_id).json())
    out.append(client.get(f"{base}/points", params={"ids": ["p1", "p50", "p61"]}).json())
    return out


def same(a: Any, b: Any) -> None:
    """Equal JSON, floats within 1e-4 (Milvus and numpy sum in different orders)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-4)
    else:
        assert a == b


def test_milvus_collection_answers_like_a_local_one(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(milvus_uri=URI)
    fill(client, "local", {"type": "flat"})  # exact search: the reference
    fill(client, "remote", {"type": "milvus", "params": {"ef": 400}})
    info = client.get("/v1/collections/remote").json()
    assert info["index"]["type"] == "milvus" and info["index"]["params"]["uri"] is None
    same(answers(client, "remote"), answers(client, "local"))
    # search knobs pass through to Milvus and are checked like any backend's
    r = client.post(
        "/v1/collections/remote/search",
        json={"query": {"vector": VECTORS[0].tolist()}, "k": 3, "params": {"ef": 16}},
    )
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    r = client.post(
        "/v1/collections/remote/search",
        json={"query": {"vector": VECTORS[0].tolist()}, "params": {"nlist": 4}},
    )
    assert_error(r, 422, "invalid_index_params", "params.nlist")


def test_text_collection_on_milvus_ranks_by_meaning(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(milvus_uri=URI)
    create_docs(client, "milvus")  # minilm encodes; Milvus stores and searches
    r = client.post(
        "/v1/collections/docs/search",
        json={"query": {"text": "interest rates and bonds"}, "k": 2},
    )
    hits = r.json()["results"]
    assert [h["id"] for h in hits] == ["bonds", "stocks"]
    assert hits[0]["payload"] == DOCS["bonds"][1] and hits[0]["score"] > hits[1]["score"]


def test_restart_keeps_everything_and_rebuilds_a_lost_milvus(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(milvus_uri=URI)
    fill(client, "r", {"type": "milvus"})
    before = answers(client, "r")
    milvus_name = client.get("/v1/collections/r").json()["index"]["params"]["collection"]
    client.__exit__(None, None, None)  # clean shutdown: snapshot written, Milvus flushed
    second = make_client(milvus_uri=URI)
    same(answers(second, "r"), before)
    second.__exit__(None, None, None)
    # SQLite is authoritative: a wiped Milvus collection is rebuilt from it at start-up
    milvus = pymilvus.MilvusClient(uri=URI)
    milvus.drop_collection(milvus_name)
    same(answers(make_client(tmp_path / "data", milvus_uri=URI), "r"), before)
    # count(*) also sees unflushed rows: a Milvus server's row_count stat counts flushed ones only
    rows = milvus.query(milvus_name, filter="", output_fields=["count(*)"])
    assert rows[0]["count(*)"] == before[0]


def test_settings_and_params_choose_the_milvus(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    own = str(tmp_path / "own" / "m.db")  # a request may name it: the operator allows it
    client = make_client(milvus_allowed_uris=[own])  # default: Milvus Lite in DATA_DIR/milvus.db
    for name, params in (("default", {}), ("own", {"uri": own, "collection": "nv_own"})):
        body = {"name": name, "dim": DIM, "index": {"type": "milvus", "params": params}}
        assert client.post("/v1/collections", json=body).status_code == 201
        points = [{"id": "a", "vector": VECTORS[0].tolist()}]
        client.put(f"/v1/collections/{name}/points", json={"points": points}).raise_for_status()
    default = client.get("/v1/collections/default").json()["index"]["params"]["collection"]
    assert pymilvus.MilvusClient(uri=str(tmp_path / "data" / "milvus.db")).has_collection(default)
    remote = pymilvus.MilvusClient(uri=own)
    assert remote.has_collection("nv_own")
    assert client.delete("/v1/collections/own").status_code == 200
    assert not remote.has_collection("nv_own")  # dropping the collection drops it in Milvus


def test_bad_milvus_settings_are_clear_errors(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(milvus_uri=URI)
    body = {
        "name": "x",
        "dim": DIM,
        "index": {"type": "milvus", "params": {"index_type": "DISKANN"}},
    }
    assert_error(client.post("/v1/collections", json=body), 422, "invalid_index_params")
    body["index"] = {"type": "milvus", "params": {"collection": "has-dash"}}
    assert_error(client.post("/v1/collections", json=body), 422, "invalid_index_params")
    # a Milvus the operator did not allow: no file is made, no host dialled
    planted = tmp_path / "planted.db"
    for uri in (str(planted), "relative.db", "", f"http://127.0.0.1:{free_port()}", ["a"]):
        body["index"] = {"type": "milvus", "params": {"uri": uri}}
        r = client.post("/v1/collections", json=body)
        assert_error(r, 422, "invalid_index_params", "index.params.uri")
    assert not planted.exists() and not (Path.cwd() / "relative.db").exists()
    # one it allows but cannot reach: 503, and nothing half-made
    down = f"http://127.0.0.1:{free_port()}"
    client = make_client(tmp_path / "other", milvus_uri=URI, milvus_allowed_uris=[down])
    body["index"] = {"type": "milvus", "params": {"uri": down}}
    r = client.post("/v1/collections", json=body)
    assert_error(r, 503, "index_backend_unavailable", "index.params.uri")
    assert client.get("/v1/collections").json()["collections"] == []
    assert not list((tmp_path / "other" / "collections").iterdir())


@pytest.mark.slow
def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """A server killed without shutdown: SQLite has every acknowledged write; Milvus catches up."""
    env = {"NESTVEC_PRELOAD_ENCODERS": "[]", "NESTVEC_MILVUS_URI": str(tmp_path / "m.db")}
    server = LiveServer(tmp_path / "data", env=env).start()
    body = {"name": "k", "dim": DIM, "metric": "l2", "index": {"type": "milvus"}}
    httpx.post(server.url + "/v1/collections", json=body).raise_for_status()
    points = [{"id": f"p{i}", "vector": VECTORS[i].tolist()} for i in range(N)]
    r = httpx.put(server.url + "/v1/collections/k/points", json={"points": points}, timeout=60)
    r.raise_for_status()
    httpx.request("DELETE", server.url + "/v1/collections/k/points", json={"ids": ["p0"]})
    assert server.proc is not None
    server.proc.kill()  # SIGKILL: no snapshot, no flush
    server.proc.wait()
    again = LiveServer(tmp_path / "data", env=env).start()
    try:
        assert httpx.get(again.url + "/v1/collections/k").json()["count"] == N - 1
        query = {"query": {"vector": VECTORS[5].tolist()}, "k": 3}
        hits = httpx.post(again.url + "/v1/collections/k/search", json=query).json()["results"]
        assert hits[0]["id"] == "p5"
        gone = {"query": {"vector": VECTORS[0].tolist()}, "k": 3}
        hits = httpx.post(again.url + "/v1/collections/k/search", json=gone).json()["results"]
        assert "p0" not in [h["id"] for h in hits]
    finally:
        again.stop()

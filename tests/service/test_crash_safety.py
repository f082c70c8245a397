"""kill -9 the real server while it acknowledges writes: nothing acknowledged may be lost; one
collection's damaged store never keeps the server, or the other collections, from starting."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support import LiveServer, assert_error

from index import Catalog, CollectionConfig

DIM = 8
TRIALS = 3  # loadtest/ runs more; CI keeps it short
NO_MODEL = {"NESTVEC_PRELOAD_ENCODERS": "[]"}  # vectors only: start fast


def stream_upserts(url: str, start: int, acked: list[str], stop: threading.Event) -> None:
    """Upsert batches of 20 until the server dies; remember what it acknowledged."""
    rng = np.random.default_rng(start)
    with httpx.Client(base_url=url, timeout=10) as api:
        i = start
        while not stop.is_set():
            batch = [
                {
                    "id": f"p{i + j}",
                    "vector": rng.normal(size=DIM).tolist(),
                    "payload": {"n": i + j},
                }
                for j in range(20)
            ]
            try:
                r = api.put("/v1/collections/c/points", json={"points": batch})
            except httpx.TransportError:
                return
            if r.status_code == 200:
                acked.extend(p["id"] for p in batch)
            i += 20


def test_kill_minus_nine_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rnd = random.Random(1)
    acked: list[str] = []
    for trial in range(TRIALS):
        server = LiveServer(data, env=NO_MODEL).start()
        if trial == 0:
            body = {"name": "c", "dim": DIM, "index": {"type": "hnsw"}}
            httpx.post(server.url + "/v1/collections", json=body).raise_for_status()
        stop = threading.Event()
        writer = threading.Thread(
            target=stream_upserts, args=(server.url, trial * 10**6, acked, stop)
        )
        writer.start()
        time.sleep(rnd.uniform(0.5, 2.0))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        writer.join()
    server = LiveServer(data, env=NO_MODEL).start()
    try:
        api = httpx.Client(base_url=server.url, timeout=30)
        assert len(acked) > 0
        for start in range(0, len(acked), 500):
            chunk = acked[start : start + 500]
            got = api.get("/v1/collections/c/points", params={"ids": chunk, "with_vector": True})
            points = {p["id"]: p for p in got.json()["points"]}
            assert set(chunk) <= set(points)  # every acknowledged id survived
            for pid in chunk[:: max(1, len(chunk) // 10)]:  # and is found by its own vector
                assert points[pid]["payload"] == {"n": int(pid[1:])}
                hit = api.post(
                    "/v1/collections/c/search",
                    json={
                        "query": {"vector": points[pid]["vector"]},
                        "k": 1,
                        "with_payload": False,
                    },
                ).json()["results"][0]
                assert hit["id"] == pid
    finally:
        server.stop()


def test_a_damaged_store_leaves_the_other_collections_served(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    catalog = Catalog(data)
    vectors = np.eye(DIM, dtype=np.float32)
    for name in ("bad", "good"):
        collection = catalog.create(CollectionConfig(name, DIM, index_type="flat"))
        collection.upsert([f"p{i}" for i in range(DIM)], vectors, [{}] * DIM)
    catalog.close()
    store = data / "collections" / "bad" / "store.sqlite3"
    with store.open("r+b") as f:
        f.truncate(4096)
    before = {
        str(p.relative_to(store.parent)): p.read_bytes()
        for p in store.parent.rglob("*")
        if p.is_file()
    }
    server = LiveServer(data, env=NO_MODEL).start()
    try:
        api = httpx.Client(base_url=server.url, timeout=30)
        listed = api.get("/v1/collections").json()["collections"]
        assert [c["name"] for c in listed] == ["good"]
        hit = api.post(
            "/v1/collections/good/search", json={"query": {"vector": vectors[3].tolist()}, "k": 1}
        ).json()["results"][0]
        assert hit["id"] == "p3"
        for answer in (
            api.get("/v1/collections/bad"),
            api.post("/v1/collections/bad/search", json={"query": {"id": "p1"}, "k": 1}),
            api.delete("/v1/collections/bad"),  # never deletes what it could not read
        ):
            assert_error(answer, 503, "collection_unavailable", "name")
            assert "collections/bad/store.sqlite3" in answer.json()["message"]
        body = {"name": "bad", "dim": DIM, "index": {"type": "flat"}}
        assert_error(api.post("/v1/collections", json=body), 409, "collection_exists", "name")
        # Qdrant's exists (LangChain asks it first) said false, and the create then met a 409
        exists = api.get("/collections/bad/exists")
        assert exists.status_code == 503 and "store.sqlite3" in exists.json()["status"]["error"]
        assert api.get("/collections/good/exists").json()["result"] == {"exists": True}
    finally:
        server.stop()
    logged = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line[:1] == "{"]
    errors = [r["message"] for r in logged if r.get("level") == "error"]  # JSON log lines
    assert len(errors) == 1, errors
    assert "'bad'" in errors[0] and str(store) in errors[0] and "malformed" in errors[0]
    assert {
        str(p.relative_to(store.parent)): p.read_bytes()
        for p in store.parent.rglob("*")
        if p.is_file()
    } == before

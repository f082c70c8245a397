"""A collection deleted while requests still read or write it: they finish or get 404, the
server keeps running (closing SQLite connections under a running query crashed the process),
and what an interrupted create or delete leaves on disk is removed at the next start."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support import LiveServer

from index import Catalog, CollectionConfig
from index.errors import CollectionDeleted

NAME = "race"
FILTER = {"must": [{"key": "g", "match": {"value": 1}}]}
POINTS = [
    {"id": i, "vector": [1.0, 2.0, 3.0, float(i)], "payload": {"g": i % 3}} for i in range(200)
]


def test_reads_and_writes_racing_a_delete_get_answers_not_a_crash(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env={"NESTVEC_PRELOAD_ENCODERS": ""}).start()
    statuses: list[int] = []
    failures: list[str] = []
    stop = time.monotonic() + 4

    def call(client: httpx.Client, method: str, path: str, body: object) -> None:
        try:
            statuses.append(client.request(method, path, json=body).status_code)
        except httpx.TransportError as exc:  # the server died under us
            failures.append(repr(exc))

    def dropper() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            while time.monotonic() < stop and not failures:
                call(api, "DELETE", f"/collections/{NAME}", None)
                call(
                    api, "PUT", f"/collections/{NAME}", {"vectors": {"size": 4, "distance": "Dot"}}
                )
                call(api, "PUT", f"/collections/{NAME}/points", {"points": POINTS})

    def reader(path: str, body: object) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            while time.monotonic() < stop and not failures:
                call(api, "POST", path, body)

    readers = [
        (f"/collections/{NAME}/points/count", {"filter": FILTER}),
        (f"/collections/{NAME}/points/scroll", {"limit": 50}),
        (f"/collections/{NAME}/points/payload", {"payload": {"x": 1}, "filter": FILTER}),
        (f"/v1/collections/{NAME}/search", {"query": {"vector": [1, 0, 0, 0]}, "k": 5}),
    ]
    threads = [threading.Thread(target=dropper)]
    threads += [threading.Thread(target=reader, args=r) for r in readers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures[0]
        assert server.proc is not None and server.proc.poll() is None, "the server exited"
        assert statuses and not [s for s in statuses if s >= 500], sorted(set(statuses))
        assert 404 in statuses and 200 in statuses  # both sides of the race were seen
        answer = httpx.get(f"{server.url}/collections", timeout=30)
        assert answer.status_code == 200
    finally:
        server.stop()


def test_a_dropped_collections_late_reads_are_not_found(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    collection = catalog.create(CollectionConfig(name="gone", dim=2, metric="cosine"))
    collection.upsert(["a", "b"], np.eye(2, dtype=np.float32), [{"g": 1}, {"g": 2}])
    catalog.drop("gone")
    with pytest.raises(CollectionDeleted) as caught:
        collection.count({"must": [{"key": "g", "match": {"value": 1}}]})
    assert caught.value.code == "collection_not_found"
    with pytest.raises(CollectionDeleted):
        collection.upsert(["c"], np.ones((1, 2), np.float32), [{}])
    # with texts too: their file went with the folder (it was a 503 blaming the disk)
    with pytest.raises(CollectionDeleted):
        collection.upsert(["c"], np.ones((1, 2), np.float32), [{}], texts={"c": "some text"})
    assert not (tmp_path / "collections" / "gone").exists()


def test_leftovers_of_an_interrupted_create_or_delete_are_removed_at_start(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    root = data / "collections"
    for leftover in (".trash-a-0123", ".tmp-b-4567"):
        (root / leftover).mkdir(parents=True)
        (root / leftover / "store.sqlite3").write_bytes(b"half")
    (root / ".keep").mkdir()  # not ours: left alone
    server = LiveServer(data, env={"NESTVEC_PRELOAD_ENCODERS": ""}).start()
    try:
        assert httpx.get(f"{server.url}/v1/collections", timeout=30).json()["collections"] == []
    finally:
        server.stop()
    assert sorted(p.name for p in root.iterdir()) == [".keep"]

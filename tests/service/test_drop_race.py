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


def test_a_deleted_collection_holds_no_file_after_reads_from_threads_that_ended(
    tmp_path: Path,
) -> None:
    """A reader connection left to the garbage collector when its worker thread ended kept its
    file descriptors: every deleted collection's files stayed held (disk not freed)."""
    server = LiveServer(tmp_path / "data", env={"NESTVEC_PRELOAD_ENCODERS": ""}).start()
    try:
        names = [f"held{i}" for i in range(4)]
        with httpx.Client(base_url=server.url, timeout=30) as api:
            for name in names:
                api.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}})
                api.put(f"/collections/{name}/points", json={"points": POINTS})

        def reads(worker: int) -> None:  # filtered counts and pages run on worker threads
            with httpx.Client(base_url=server.url, timeout=30) as api:
                for i in range(60):
                    name = names[(worker + i) % len(names)]
                    api.post(f"/v1/collections/{name}/count", json={"filter": FILTER})
                    api.get(f"/v1/collections/{name}/points", params={"limit": 5})

        threads = [threading.Thread(target=reads, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(12)  # idle worker threads end (anyio's 10 s)
        with httpx.Client(base_url=server.url, timeout=30) as api:
            for name in names:
                assert api.delete(f"/v1/collections/{name}").status_code == 200
        assert server.proc is not None
        fd_dir = Path(f"/proc/{server.proc.pid}/fd")
        held = [
            target
            for fd in fd_dir.iterdir()
            if ".trash-" in (target := _target(fd)) or "held" in target
        ]
        assert held == []
    finally:
        server.stop()


def _target(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:  # closed meanwhile
        return ""

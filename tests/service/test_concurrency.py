"""One writer and many readers at once; a second process on the same data dir is refused."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from support import LiveServer

DIM = 8
NO_MODEL = {"NESTVEC_PRELOAD_ENCODERS": "[]"}


def test_writer_and_readers_at_once(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env=NO_MODEL).start()
    errors: list[str] = []
    done = threading.Event()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, DIM)).round(4)
    try:
        api = httpx.Client(base_url=server.url, timeout=30)
        api.post("/v1/collections", json={"name": "c", "dim": DIM}).raise_for_status()

        def write() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as w:
                for start in range(0, 2000, 50):
                    pts = [
                        {"id": f"p{i}", "vector": vectors[i].tolist(), "payload": {"i": i}}
                        for i in range(start, start + 50)
                    ]
                    if w.put("/v1/collections/c/points", json={"points": pts}).status_code != 200:
                        errors.append("write failed")
            done.set()

        def read(seed: int) -> None:
            local = np.random.default_rng(seed)
            with httpx.Client(base_url=server.url, timeout=30) as r:
                while not done.is_set():
                    q = {"query": {"vector": local.normal(size=DIM).tolist()}, "k": 10}
                    resp = r.post("/v1/collections/c/search", json=q)
                    if resp.status_code != 200:
                        errors.append(f"search {resp.status_code}")
                        continue
                    hits = resp.json()["results"]
                    ids = [h["id"] for h in hits]
                    if len(set(ids)) != len(ids):
                        errors.append("duplicate ids")
                    for h in hits:  # no torn points: payload always matches its id
                        if h["payload"] != {"i": int(h["id"][1:])}:
                            errors.append(f"torn point {h}")

        threads = [threading.Thread(target=write)] + [
            threading.Thread(target=read, args=(s,)) for s in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert api.post("/v1/collections/c/count").json() == {"count": 2000}
    finally:
        server.stop()


def test_second_process_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env=NO_MODEL).start()
    try:
        second = LiveServer(tmp_path / "data", env=NO_MODEL)
        with pytest.raises(RuntimeError, match="server exited"):
            second.start(timeout=60)
        code = "from index.catalog import DataDirLock; DataDirLock(__import__('sys').argv[1])"
        out = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "data")], capture_output=True, text=True
        )
        assert out.returncode != 0 and "in use by another nestvec process" in out.stderr
        for stray in (tmp_path / "data").glob(".lock*"):  # a "stale lock" removed by hand
            stray.unlink()
        third = LiveServer(tmp_path / "data", env=NO_MODEL)
        try:
            with pytest.raises(RuntimeError, match="server exited"):  # it got in beside the first
                third.start(timeout=60)
        finally:
            third.stop()
    finally:
        server.stop()


def test_a_large_write_stalls_neither_the_server_nor_other_collections(tmp_path: Path) -> None:
    """Searches of a collection in memory run on the event loop; while another collection takes
    large upserts (seconds of index build on a worker thread), probes and searches of the first
    go on: several answer before the upserts are done, each as it answers alone."""
    server = LiveServer(tmp_path / "data", env=NO_MODEL).start()
    rng = np.random.default_rng(1)
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        for name in ("small", "big"):
            index = {"type": "hnsw", "params": {"ef_construction": 400}}
            api.post("/v1/collections", json={"name": name, "dim": 64, "index": index})
        small = [{"id": str(i), "vector": rng.normal(size=64).tolist()} for i in range(200)]
        api.put("/v1/collections/small/points", json={"points": small}).raise_for_status()
        query = {"query": {"vector": rng.normal(size=64).tolist()}, "k": 5}
        alone = api.post("/v1/collections/small/search", json=query).json()
        big = rng.normal(size=(20_000, 64))
        upserted, failures = threading.Event(), []

        def write() -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=300) as w:
                    for lo in range(0, len(big), 2000):  # max_batch is 2048
                        points = [
                            {"id": str(i), "vector": big[i].tolist()} for i in range(lo, lo + 2000)
                        ]
                        r = w.put("/v1/collections/big/points", json={"points": points})
                        if r.status_code != 200:
                            failures.append(r.text)
            finally:
                upserted.set()

        writer = threading.Thread(target=write)
        writer.start()
        answered_during = 0
        while not upserted.is_set():
            assert api.get("/healthz").status_code == 200
            assert api.post("/v1/collections/small/search", json=query).json() == alone
            answered_during += not upserted.is_set()
        writer.join()
        assert failures == []
        assert answered_during >= 3
        assert api.post("/v1/collections/big/count").json() == {"count": len(big)}
    finally:
        server.stop()

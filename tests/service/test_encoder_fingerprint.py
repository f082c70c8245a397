"""A collection remembers which model its vectors came from: after `minilm-mrl` is trained (it
served base MiniLM before), text writes and searches answer 409 `encoder_changed` until
`nestvec reindex` re-encodes the collection; vectors and stored ids keep working meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
from support import DATA, LiveServer, assert_error

from encoders.registry import encoder_fingerprint

NESTVEC = str(Path(sys.executable).parent / "nestvec")


def _docs(n: int) -> list[tuple[str, str]]:
    with (DATA / "scifact" / "corpus.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(n)]
    return [(r["_id"], f"{r['title']} {r['text'][:200]}") for r in rows]


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NESTVEC, *map(str, argv)], capture_output=True, text=True, timeout=900, check=False
    )


def test_a_trained_model_blocks_text_until_reindex(tmp_path: Path) -> None:
    data, docs = tmp_path / "data", _docs(12)
    points = [{"id": i, "text": t, "payload": {"n": n}} for n, (i, t) in enumerate(docs)]
    fallback = encoder_fingerprint("minilm-mrl", data / "models")
    server = LiveServer(data).start()
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        body = {"name": "sci", "encoder": "minilm-mrl"}
        assert api.post("/v1/collections", json=body).status_code == 201
        api.put("/v1/collections/sci/points", json={"points": points}).raise_for_status()
    finally:
        server.stop()

    trained = _run("train", "mrl", "--mode", "finetune", "--tiny", "--data-dir", data)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (data / "models" / "minilm-mrl" / "modules.json").exists()
    new = encoder_fingerprint("minilm-mrl", data / "models")
    assert new != fallback

    query = {"query": {"text": docs[3][1]}, "k": 3}
    server = LiveServer(data).start()
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        r = api.post("/v1/collections/sci/search", json=query)
        assert_error(r, 409, "encoder_changed", "query.text")
        message = r.json()["message"]
        assert "'sci'" in message and fallback in message and new in message, message
        assert "nestvec reindex sci" in message
        one = {"points": [{"id": "new", "text": "a new abstract"}]}
        r = api.put("/v1/collections/sci/points", json=one)
        assert_error(r, 409, "encoder_changed", "points[0].text")
        vector = np.random.default_rng(0).normal(size=384).tolist()
        r = api.post("/v1/collections/sci/search", json={"query": {"vector": vector}, "k": 2})
        assert r.status_code == 200 and len(r.json()["results"]) == 2, r.text
        r = api.post("/v1/collections/sci/search", json={"query": {"id": docs[0][0]}, "k": 2})
        assert r.status_code == 200, r.text
        assert api.get("/v1/collections/sci").json()["count"] == 12  # nothing was mixed in
    finally:
        server.stop()

    reindexed = _run("reindex", "sci", "--data-dir", data, "--no-progress")
    assert reindexed.returncode == 0, reindexed.stderr
    assert "re-encoded 12 points" in reindexed.stdout, reindexed.stdout

    server = LiveServer(data).start()
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        for doc_id, text in (docs[3], docs[9]):
            body = {"query": {"text": text}, "k": 3}
            hits = api.post("/v1/collections/sci/search", json=body).json()["results"]
            assert hits[0]["id"] == doc_id, hits
        r = api.put("/v1/collections/sci/points", json=one)
        assert r.status_code == 200, r.text
    finally:
        server.stop()


def test_reindex_refuses_a_data_dir_a_server_holds(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data").start()
    try:
        api = httpx.Client(base_url=server.url, timeout=120)
        assert api.post("/v1/collections", json={"name": "c", "encoder": "minilm"}).is_success
        done = _run("reindex", "c", "--data-dir", tmp_path / "data")
    finally:
        server.stop()
    assert done.returncode == 2  # refused before anything is read, as ingest's (it was 1)
    assert done.stderr.count("\n") == 1 and "in use by another nestvec process" in done.stderr
    missing = _run("reindex", "nope", "--data-dir", tmp_path / "data")
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr == "nestvec reindex: error: no collection 'nope'\n"

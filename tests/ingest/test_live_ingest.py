"""Ingest beside a running server: an offline build refuses the data dir the server holds, and
`nestvec ingest --url` loads through the REST API, searchable at once and resumable after a kill."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import LiveServer

from ingest.upload_state import STATE_SUFFIX

NESTVEC = str(Path(sys.executable).parent / "nestvec")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("live") / "data").start()
    yield live
    live.stop()


def _write_docs(path: Path, docs: list[dict[str, Any]]) -> Path:
    rows = [
        {"id": d["_id"], "text": f"{d['title']} {d['text'][:200]}", "n": i}
        for i, d in enumerate(docs)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _nestvec(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NESTVEC, *map(str, argv)], capture_output=True, text=True, timeout=300, check=False
    )


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_offline_build_into_a_served_data_dir_is_refused(
    server: LiveServer, tmp_path: Path, scifact_docs: Any
) -> None:
    source = _write_docs(tmp_path / "docs.jsonl", scifact_docs(20))
    before = _files(server.data_dir)
    done = _nestvec(
        "ingest", source, "--collection", "offline", "--encoder", "minilm",
        "--data-dir", server.data_dir, "--no-progress",
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "server" in lines[0] and "--url" in lines[0], lines[0]
    assert _files(server.data_dir) == before  # nothing written, not even a staged build
    r = httpx.get(f"{server.url}/v1/collections/offline")
    assert r.status_code == 404


def test_url_ingest_is_counted_and_searchable(
    server: LiveServer, tmp_path: Path, scifact_docs: Any
) -> None:
    docs = scifact_docs(120)
    source = _write_docs(tmp_path / "docs.jsonl", docs)
    done = _nestvec(
        "ingest", source, "--url", server.url, "--collection", "live", "--encoder", "minilm",
        "--batch-size", "32", "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    api = httpx.Client(base_url=server.url, timeout=60)
    info = api.get("/v1/collections/live").json()
    assert info["count"] == 120 and info["encoder"] == "minilm"
    for doc in (docs[7], docs[111]):
        query = {"query": {"text": f"{doc['title']} {doc['text'][:200]}"}, "k": 3}
        hits = api.post("/v1/collections/live/search", json=query).json()["results"]
        assert hits[0]["id"] == doc["_id"], hits
    state = json.loads(source.with_name(source.name + STATE_SUFFIX).read_text())
    assert state["done"] and state["rows"] == 120
    again = _nestvec("ingest", source, "--url", server.url, "--collection", "live", "--no-progress")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout


def test_a_killed_url_ingest_resumes_without_duplicates(
    server: LiveServer, tmp_path: Path, scifact_docs: Any
) -> None:
    docs = scifact_docs(300)
    source = _write_docs(tmp_path / "docs.jsonl", docs)
    state_file = tmp_path / "progress.json"
    argv = [
        NESTVEC, "ingest", str(source), "--url", server.url, "--collection", "resumed",
        "--encoder", "minilm", "--batch-size", "10", "--state", str(state_file), "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["rows"] >= 30:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state_file.read_text())
    assert not killed_at["done"] and 30 <= killed_at["rows"] < 300, killed_at
    summary_file = tmp_path / "summary.json"
    done = subprocess.run(
        [*argv, "--summary-json", str(summary_file)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(summary_file.read_text())
    assert summary["status"] == "resumed"
    assert summary["sent"] == 300 - killed_at["rows"]  # acknowledged batches are not sent again
    info = httpx.get(f"{server.url}/v1/collections/resumed").json()
    assert info["count"] == 300
    assert summary["stats"]["points"] == 300 and summary["stats"]["duplicates"] == 0

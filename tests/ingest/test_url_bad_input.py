"""`nestvec ingest --url` on bad input, as offline: rows no store can keep are skipped, a source
without a usable row is an error that leaves nothing behind, and a bad progress file is refused.
Ready vectors only: the server loads no model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import LiveServer

from ingest.upload_state import STATE_SUFFIX


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"NESTVEC_PRELOAD_ENCODERS": ""}  # none: a fast start
    live = LiveServer(tmp_path_factory.mktemp("url") / "data", env=env).start(timeout=60)
    yield live
    live.stop()


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _upload(
    server: LiveServer, source: Path, collection: str, *argv: str | Path
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "service.cli", "ingest", str(source), "--url", server.url,
        "--collection", collection, "--vector-field", "emb", "--no-progress", *map(str, argv),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _count(server: LiveServer, collection: str) -> int | None:
    r = httpx.get(f"{server.url}/v1/collections/{collection}")
    return None if r.status_code == 404 else int(r.json()["count"])


def test_rows_no_store_can_keep_are_skipped_not_sent(server: LiveServer, tmp_path: Path) -> None:
    rows = [
        {"id": "a", "emb": [1, 0, 0, 0]},
        {"id": "bad\x00id", "emb": [0, 1, 0, 0]},  # the server would answer 422 for the batch
        {"id": "\ud800", "emb": [0, 0, 1, 0]},
        {"id": "p", "emb": [0, 0, 0, 1], "tag": "\udfff"},
        {"id": "b", "emb": [1, 1, 0, 0]},
    ]
    source, report = _write(tmp_path / "odd.jsonl", rows), tmp_path / "summary.json"
    done = _upload(server, source, "odd", "--dim", "4", "--summary-json", report)
    assert done.returncode == 0, done.stderr
    stats = json.loads(report.read_text())["stats"]
    assert stats["skipped"] == {"invalid_id": 2, "invalid_payload": 1}
    assert stats["examples"][0] == "odd.jsonl line 2: point id 'bad\\x00id' holds a NUL character"
    assert _count(server, "odd") == 2
    # --strict: the first such row fails before a batch is sent (or the collection created)
    done = _upload(server, source, "strict", "--dim", "4", "--strict", "--batch-size", "1")
    assert done.returncode == 2  # refused before anything was sent, as offline
    assert done.stderr.splitlines() == [
        "nestvec ingest: error: odd.jsonl line 2: point id 'bad\\x00id' holds a NUL character"
    ]
    assert _count(server, "strict") is None


def test_no_usable_row_is_an_error_as_offline(server: LiveServer, tmp_path: Path) -> None:
    r = httpx.post(f"{server.url}/v1/collections", json={"name": "eight", "dim": 8})
    assert r.status_code in (200, 201), r.text
    rows = [{"id": f"g{i}", "emb": [1.0, 2.0, 3.0, float(i)]} for i in range(5)]
    source = _write(tmp_path / "four.jsonl", rows)
    expected = (
        "nestvec ingest: error: four.jsonl: none of its 5 rows could be used (5 invalid_vector); "
        "first: four.jsonl line 1: vector 'emb' has 4 values, expected 8"
    )
    for _ in range(2):  # nothing is recorded as done: a re-run fails the same way
        done = _upload(server, source, "eight")
        assert done.returncode == 2, done.stdout  # nothing sent: the source's error, as offline
        assert done.stderr.splitlines() == [expected]
    assert not source.with_name(source.name + STATE_SUFFIX).exists()
    assert _count(server, "eight") == 0
    # a collection the upload created for nothing is removed, as offline leaves none behind
    done = _upload(server, source, "fresh", "--dim", "8")
    assert (done.returncode, _count(server, "fresh")) == (2, None), done.stderr
    empty = _write(tmp_path / "empty.jsonl", [])
    done = _upload(server, empty, "fresh", "--dim", "8")
    assert done.stderr.splitlines() == [
        "nestvec ingest: error: empty.jsonl: empty source (no rows to read)"
    ]
    assert (done.returncode, _count(server, "fresh")) == (2, None)  # as offline


BAD_STATE = ["{not json", '{"rows": 3}', "[1, 2]", '{"key": 1, "rows": 0, "done": 0, "stats": {}}']


@pytest.mark.parametrize("content", BAD_STATE)
def test_a_state_file_that_is_not_one_is_refused(
    server: LiveServer, tmp_path: Path, content: str
) -> None:
    source = _write(tmp_path / "v.jsonl", [{"id": "a", "emb": [1, 0, 0, 0]}])
    state = tmp_path / "state.json"
    state.write_text(content)
    done = _upload(server, source, "stateful", "--dim", "4", "--state", state)
    assert done.returncode == 2, done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and str(state) in lines[0], done.stderr
    assert "is not a progress file of `nestvec ingest --url`" in lines[0], lines[0]
    assert state.read_text() == content  # left as it was, and nothing sent
    assert _count(server, "stateful") is None
    state.write_text("")  # an empty file (as mktemp makes) holds no progress: start from the top
    done = _upload(server, source, "stateful", "--dim", "4", "--state", state)
    assert done.returncode == 0, done.stderr
    assert json.loads(state.read_text())["done"] and _count(server, "stateful") == 1
    httpx.delete(f"{server.url}/v1/collections/stateful")


def test_options_that_contradict_the_servers_collection_are_refused(
    server: LiveServer, tmp_path: Path
) -> None:
    """As offline: the server would have written with its own settings, silently."""
    source = _write(tmp_path / "v.jsonl", [{"id": "a", "emb": [1, 0, 0, 0]}])
    assert _upload(server, source, "kept", "--dim", "4").returncode == 0
    for extra in (["--metric", "l2"], ["--dim", "8"], ["--encoder", "fake"]):
        done = _upload(server, source, "kept", *extra)
        assert done.returncode == 2 and "exists with" in done.stderr, (extra, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert _count(server, "kept") == 1


def test_a_state_file_in_a_missing_folder_is_refused_before_the_upload(
    server: LiveServer, tmp_path: Path
) -> None:
    source = _write(tmp_path / "s.jsonl", [{"id": "a", "emb": [1, 0, 0, 0]}])
    state = tmp_path / "no-such-folder" / "progress.json"
    done = _upload(server, source, "stateless", "--dim", "4", "--state", state)
    assert done.returncode == 2 and "no folder" in done.stderr, done.stderr
    assert _count(server, "stateless") is None  # nothing sent, no collection made


def test_an_edge_list_is_refused_not_dropped(server: LiveServer, tmp_path: Path) -> None:
    """The server would have embedded the nodes over their trained edges, silently."""
    source = _write(tmp_path / "e.jsonl", [{"id": "a", "emb": [1, 0, 0, 0]}])
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target\n1,2\n")
    done = _upload(server, source, "edged", "--dim", "4", "--edges", edges)
    assert done.returncode == 2 and "--edges is not sent with --url" in done.stderr, done.stderr
    assert _count(server, "edged") is None


def test_ids_repeated_across_batches_are_counted_as_offline(
    server: LiveServer, tmp_path: Path
) -> None:
    """Only repeats inside one batch were counted: 0 where an offline build said 74."""
    rows = [{"id": f"r{i % 7}", "emb": [1, i, 0, 0]} for i in range(20)]
    source, report = _write(tmp_path / "dups.jsonl", rows), tmp_path / "summary.json"
    done = _upload(
        server, source, "dups", "--dim", "4", "--batch-size", "3", "--summary-json", report
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(report.read_text())["stats"]
    assert (stats["duplicates"], stats["points"]) == (13, 7), stats
    assert _count(server, "dups") == 7


@pytest.mark.parametrize(
    ("url", "argv", "said"),
    [
        ("notaurl", [], "is not an http:// or https:// URL"),
        ("ftp://127.0.0.1/", [], "is not an http:// or https:// URL"),
        ("http://127.0.0.1:9", [], "cannot reach the server"),  # the discard port: refused
        (None, ["--workers", "2"], "--workers: for offline builds"),
        (
            None,
            ["--data-dir", "elsewhere", "--insertion-order", "random"],
            "--data-dir, --insertion",
        ),
    ],
)
def test_a_url_that_is_none_or_offline_options_fail_at_once(
    server: LiveServer, tmp_path: Path, url: str | None, argv: list[str], said: str
) -> None:
    """A bad URL was retried for a minute in silence; offline options were ignored, exit 0."""
    source = _write(tmp_path / "v.jsonl", [{"id": "a", "emb": [1, 0]}])
    command = [
        sys.executable, "-m", "service.cli", "ingest", str(source), "--url", url or server.url,
        "--collection", "never", "--vector-field", "emb", "--no-progress", *argv,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    usage = "cannot reach" not in said  # the command line's error (2); a server not there (1)
    assert done.returncode == (2 if usage else 1) and said in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert _count(server, "never") is None


def test_one_upload_per_progress_file(server: LiveServer, tmp_path: Path) -> None:
    """Two runs resumed one progress file at once, each rewriting it: wrong counts."""
    import fcntl

    source = _write(tmp_path / "v.jsonl", [{"id": "a", "emb": [1, 0]}])
    lock = tmp_path / ("v.jsonl" + STATE_SUFFIX + ".lock")
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a run in progress holds it
        busy = _upload(server, source, "locked", "--dim", "2")
    assert busy.returncode == 2 and "another `nestvec ingest --url` is loading" in busy.stderr
    assert _count(server, "locked") is None
    done = _upload(server, source, "locked", "--dim", "2")
    assert done.returncode == 0, done.stderr
    assert _count(server, "locked") == 1 and not lock.exists()

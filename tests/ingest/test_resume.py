"""Resumable builds: progress commits with the points; killed builds continue where they were."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoders.precision import resolve_precision
from index.store import PointStore
from ingest import encoding as ingest_encoding
from ingest import pipeline as ingest_pipeline
from ingest.summary import Summary

Docs = Callable[[int], list[dict[str, Any]]]
ARGS = ("--collection", "sci", "--encoder", "fake", "--id-field", "_id", "--batch-size", "4")
# the SIGKILL test needs batches that take a moment to encode: the real model
MINILM_ARGS = tuple("minilm" if arg == "fake" else arg for arg in ARGS)


def assert_same_collection(a: dict[str, Any], b: dict[str, Any], atol: float = 1e-6) -> None:
    """Same ids, vectors within `atol` and payloads."""
    assert sorted(a) == sorted(b)
    for key, (vector, payload) in a.items():
        np.testing.assert_allclose(vector, b[key][0], atol=atol, err_msg=key)
        assert payload == b[key][1]


def test_progress_commits_in_the_same_transaction_as_the_points(tmp_path: Path) -> None:
    store = PointStore(tmp_path / "s.sqlite3", dim=2)
    store.upsert(["a"], np.ones((1, 2)), [{}], meta={"ingest": {"rows": 1}})
    assert store.read_config()["ingest"] == {"rows": 1} and store.max_label() == 1
    with pytest.raises(sqlite3.IntegrityError):  # a repeated id fails inside the transaction
        store.upsert(["b", "b"], np.ones((2, 2)), [{}, {}], meta={"ingest": {"rows": 3}})
    assert store.read_config()["ingest"] == {"rows": 1} and store.count() == 1
    store.close()


def test_an_interrupted_build_resumes_and_encodes_each_item_once(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    stored: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    docs = [{**d, "text": d["title"]} for d in scifact_docs(30)]
    source = write_jsonl(tmp_path / "c.jsonl", docs)
    encoded: list[str] = []
    real_encode, real_commit = ingest_encoding.encode_inputs, ingest_pipeline._commit

    def counting_encode(encoder: Any, inputs: list[Any], job: Any) -> np.ndarray:
        encoded.extend(inputs)
        return real_encode(encoder, inputs, job)

    def commit_three(*args: Any) -> None:
        if len(encoded) > 12:
            raise KeyboardInterrupt  # after the third batch of 4 committed
        real_commit(*args)

    monkeypatch.setattr(ingest_encoding, "encode_inputs", counting_encode)
    monkeypatch.setattr(ingest_pipeline, "_commit", commit_three)
    with pytest.raises(KeyboardInterrupt):
        ingest(str(source), *ARGS)
    staged = tmp_path / "data" / "collections" / ".building-sci"
    assert staged.exists() and not (tmp_path / "data" / "collections" / "sci").exists()
    monkeypatch.setattr(ingest_pipeline, "_commit", real_commit)
    notes: list[str] = []
    summary = ingest(str(source), *ARGS, notes=notes.append)
    assert notes == [
        "resuming 'sci': 12 rows of " + str(source) + " were committed (12 points); "
        "continuing after them"
    ]
    assert (summary.status, summary.encoded, summary.stats.read, summary.count) == (
        "resumed",
        18,
        30,
        30,
    )
    texts = [d["text"] for d in docs]
    # committed items are never encoded again; only the batch that was in flight is
    assert encoded == texts[:16] + texts[12:]
    reference = ingest(str(source), *ARGS, "--data-dir", str(tmp_path / "ref"))
    assert reference.stats == summary.stats
    assert_same_collection(stored(tmp_path / "data", "sci"), stored(tmp_path / "ref", "sci"))


def test_a_changed_source_restarts_a_staged_build(
    ingest: Callable[..., Summary],
    write_jsonl: Callable[..., Path],
    stored: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    source = write_jsonl(
        tmp_path / "c.jsonl", [{"_id": str(i), "text": f"v1 {i}"} for i in range(8)]
    )

    real_commit, commits = ingest_pipeline._commit, []

    def commit_once(*args: Any) -> None:
        if commits:
            raise KeyboardInterrupt
        commits.append(real_commit(*args))

    monkeypatch.setattr(ingest_pipeline, "_commit", commit_once)
    with pytest.raises(KeyboardInterrupt):
        ingest(str(source), *ARGS)
    monkeypatch.undo()
    write_jsonl(source, [{"_id": str(i), "text": f"v2 {i}"} for i in range(6)])
    notes: list[str] = []
    summary = ingest(str(source), *ARGS, notes=notes.append)
    assert summary.status == "built" and summary.count == 6
    assert notes[0].startswith("discarding the unfinished build in ")
    assert sorted(stored(tmp_path / "data", "sci")) == [str(i) for i in range(6)]


def committed_rows(store_file: Path) -> int:
    """Rows the build in `store_file` has committed (0 before its first batch)."""
    if not store_file.exists():
        return 0
    db = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT value FROM config WHERE key = 'ingest'").fetchone()
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    finally:
        db.close()
    return int(json.loads(row[0])["rows"]) if row else 0


def wait_for_rows(proc: subprocess.Popen[bytes], store_file: Path, rows: int) -> float:
    """Poll until the build has committed `rows`; the monotonic time it was seen."""
    deadline = time.monotonic() + 300
    while committed_rows(store_file) < rows:
        assert proc.poll() is None, "the build ended early"
        assert time.monotonic() < deadline, "the build made no progress"
        time.sleep(0.005)
    return time.monotonic()


def test_a_build_failing_before_its_first_commit_leaves_nothing(
    ingest: Callable[..., Summary],
    write_jsonl: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}])

    def fail(*args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_pipeline, "_commit", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(str(source), *ARGS)
    assert list((tmp_path / "data" / "collections").iterdir()) == []


def test_sigkill_mid_build_then_resume_equals_an_uninterrupted_build(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    stored: Callable[..., dict],
    tmp_path: Path,
) -> None:
    # the start of each abstract: a batch of 4 takes a moment to encode, the test stays short
    docs = [{**d, "text": d["text"][:300]} for d in scifact_docs(40)]
    source = write_jsonl(tmp_path / "corpus.jsonl", docs)
    data, rng = tmp_path / "data", random.Random()
    kill_after = rng.randrange(8, 24, 4)  # 2 to 5 of the 10 batches are committed, then...
    command = [str(Path(sys.executable).parent / "nestvec"), "ingest", str(source), *MINILM_ARGS]
    proc = subprocess.Popen([*command, "--data-dir", str(data), "--no-progress"])
    staged = data / "collections" / ".building-sci" / "store.sqlite3"
    previous = wait_for_rows(proc, staged, kill_after - 4)
    interval = wait_for_rows(proc, staged, kill_after) - previous
    delay = rng.uniform(0, interval)  # ...a random moment within the time of one more batch
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    where = f"(killed {delay:.3f} s after {kill_after} rows were committed)"
    assert proc.returncode == -signal.SIGKILL, f"the build ended before the kill {where}"
    assert not (data / "collections" / "sci").exists(), "a killed build must not be served"
    before = committed_rows(staged)
    assert before >= kill_after, where

    summary = ingest(str(source), *MINILM_ARGS)  # the same command, run again
    assert summary.status == "resumed" and summary.encoded == 40 - before, where
    assert (summary.stats.read, summary.count) == (40, 40)
    reference = ingest(str(source), *MINILM_ARGS, "--data-dir", str(tmp_path / "ref"))
    # bfloat16 minilm (the default on CPUs with AMX) moves a vector by up to ~1e-3 between
    # batchings and thread counts; float32 stays within 1e-6
    atol = 1e-6 if resolve_precision("auto") == "float32" else 5e-3
    assert_same_collection(stored(data, "sci"), stored(tmp_path / "ref", "sci"), atol)
    assert reference.stats == summary.stats


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_encoder_workers_end_with_a_killed_build(tmp_path: Path, sig: int) -> None:
    """They ran on with parent PID 1, a model each (260 MB with `fake`), after either signal."""
    source = tmp_path / "s.jsonl"
    rows = (json.dumps({"id": f"i{i}", "text": f"some words {i}"}) for i in range(50_000))
    source.write_text("\n".join(rows) + "\n")
    argv = [sys.executable, "-m", "service.cli", "ingest", str(source), "--collection", "c"]
    argv += ["--encoder", "fake", "--batch-size", "16", "--workers", "2", "--no-progress"]
    argv += ["--data-dir", str(tmp_path / "data")]
    build = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    for _ in range(300):  # the workers are up once the batches start committing
        listed = subprocess.run(["pgrep", "-P", str(build.pid)], capture_output=True, text=True)
        children = [int(pid) for pid in listed.stdout.split()]
        if len(children) >= 2:
            break
        time.sleep(0.1)
    assert len(children) >= 2, "no workers started"
    build.send_signal(sig)
    build.wait(timeout=30)
    deadline = time.monotonic() + 15
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [pid for pid in children if _running(pid)]
    for pid in alive:  # leave nothing behind, whatever the outcome
        subprocess.run(["kill", "-9", str(pid)], check=False)
    assert not alive, f"workers still running: {alive}"


def _running(pid: int) -> bool:
    """Not a zombie (a reaped child's /proc entry can linger until its parent waits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return stat[0] != "Z"


def test_sigterm_stops_a_build_as_ctrl_c_does_and_it_resumes(tmp_path: Path) -> None:
    """Without a handler, a build run as a container's PID 1 ignored SIGTERM (`docker stop`
    waited for its SIGKILL); now it stops where it stands, says so, and exits 143."""
    source = tmp_path / "s.jsonl"
    rows = (json.dumps({"id": f"i{i}", "text": f"some words {i}"}) for i in range(20_000))
    source.write_text("\n".join(rows) + "\n")
    argv = [sys.executable, "-m", "service.cli", "ingest", str(source), "--collection", "c"]
    argv += ["--encoder", "fake", "--batch-size", "16", "--no-progress"]
    argv += ["--data-dir", str(tmp_path / "data")]
    build = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = tmp_path / "data" / "collections" / ".building-c" / "store.sqlite3"
    wait_for_rows(build, staged, 64)  # some batches committed, the build under way
    build.send_signal(signal.SIGTERM)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 143, err
    assert "interrupted; run the same command to resume" in err
    before = committed_rows(staged)
    assert 64 <= before < 20_000
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout
    count = sqlite3.connect(tmp_path / "data" / "collections" / "c" / "store.sqlite3")
    assert count.execute("SELECT count(*) FROM points").fetchone() == (20_000,)
    count.close()

"""A client that disconnects before its answer gets no more encoding: its queued jobs are dropped
and a running one stops between model calls (live server, real MiniLM on SciFact abstracts,
clients that leave over raw sockets). The server's own metrics count what it encoded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from support import DATA, LiveServer

TEXTS = [json.loads(line)["text"] for line in (DATA / "scifact" / "corpus.jsonl").open()][:192]
ENCODED = "nestvec_encode_batch_size_sum"  # inputs through the model, per encoder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # one batch worker: a request in flight keeps the others queued
    env = {"NESTVEC_ENCODE_WORKERS": "1"}
    live = LiveServer(tmp_path_factory.mktemp("gone") / "data", env=env).start()
    embed(live, ["warm"])
    yield live
    live.stop()


def embed(server: LiveServer, texts: list[str]) -> httpx.Response:
    body = {"model": "minilm", "input": texts}
    return httpx.post(server.url + "/v1/embeddings", json=body, timeout=300)


def metric(server: LiveServer, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def send_and_leave(server: LiveServer, method: str, path: str, body: object, stay: float) -> None:
    """Send a whole request, wait `stay` seconds, close the connection unanswered."""
    raw = json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"{head}content-length: {len(raw)}\r\n\r\n".encode() + raw)
        time.sleep(stay)


def wait_for_499s(server: LiveServer, count: int) -> None:
    deadline = time.monotonic() + 120
    while metric(server, "nestvec_requests_total", status="499") < count:
        assert time.monotonic() < deadline, "the requests whose clients left never ended"
        time.sleep(0.2)


def test_queued_work_of_clients_that_left_is_dropped(server: LiveServer) -> None:
    """Three clients send the same 192 texts while a fourth's are encoding, then leave: only the
    fourth's are encoded (768 before), and it gets all its vectors."""
    before = metric(server, ENCODED, encoder="minilm")
    answer: list[httpx.Response] = []
    stayer = threading.Thread(target=lambda: answer.append(embed(server, TEXTS)))
    stayer.start()
    time.sleep(0.3)  # its job is running: theirs queue behind it
    left = metric(server, "nestvec_requests_total", status="499")
    for _ in range(3):
        send_and_leave(server, "POST", "/v1/embeddings", {"model": "minilm", "input": TEXTS}, 0)
    stayer.join()
    wait_for_499s(server, int(left) + 3)
    assert answer[0].status_code == 200 and len(answer[0].json()["data"]) == len(TEXTS)
    assert metric(server, ENCODED, encoder="minilm") - before == len(TEXTS)


def test_a_running_job_stops_between_model_calls(server: LiveServer) -> None:
    """576 texts are many model calls: the client leaves a second in, the rest is not encoded."""
    before = metric(server, ENCODED, encoder="minilm")
    left = metric(server, "nestvec_requests_total", status="499")
    send_and_leave(server, "POST", "/v1/embeddings", {"model": "minilm", "input": TEXTS * 3}, 1)
    wait_for_499s(server, int(left) + 1)
    assert 0 < metric(server, ENCODED, encoder="minilm") - before < len(TEXTS)


def test_an_upsert_whose_client_left_while_queued_writes_nothing(server: LiveServer) -> None:
    """The write path encodes on a worker thread: its jobs are dropped the same way, and an
    upsert never acknowledged stores no point; the one that stayed is stored whole."""
    create = {"name": "docs", "encoder": "minilm", "index": {"type": "hnsw"}}
    assert httpx.post(server.url + "/v1/collections", json=create).status_code == 201
    points = [{"id": f"a{i}", "text": t} for i, t in enumerate(TEXTS)]
    path = "/v1/collections/docs/points"
    before = metric(server, ENCODED, encoder="minilm")
    left = metric(server, "nestvec_requests_total", status="499")
    answer: list[httpx.Response] = []
    stayer = threading.Thread(
        target=lambda: answer.append(
            httpx.put(server.url + path, json={"points": points}, timeout=300)
        )
    )
    stayer.start()
    time.sleep(0.3)
    gone = [{"id": f"b{i}", "text": t} for i, t in enumerate(TEXTS)]
    send_and_leave(server, "PUT", path, {"points": gone}, 0)
    stayer.join()
    wait_for_499s(server, int(left) + 1)
    assert answer[0].json() == {"upserted": len(TEXTS)}
    assert metric(server, ENCODED, encoder="minilm") - before == len(TEXTS)
    count = httpx.post(server.url + "/v1/collections/docs/count", json={}).json()["count"]
    assert count == len(TEXTS)


def test_a_client_that_leaves_mid_body_is_logged_499(server: LiveServer) -> None:
    """It was logged 400 (FastAPI's "error parsing the body"): a client error it did not make."""
    left = metric(server, "nestvec_requests_total", status="499")
    head = "POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f'{head}content-length: 1000\r\n\r\n{{"model": "minilm", "inp'.encode())
    wait_for_499s(server, int(left) + 1)
    assert metric(server, "nestvec_requests_total", status="400") == 0


@pytest.fixture(scope="module")
def small_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # two requests arriving together share one batch of many small model calls
    env = {
        "NESTVEC_ENCODE_WORKERS": "1",
        "NESTVEC_BATCH_MAX_WAIT_MS": "500",
        "NESTVEC_BATCH_MAX_SIZE": "256",
        "NESTVEC_BATCH_MAX_TOKENS": "1024",
        "NESTVEC_BATCH_MAX_QUEUE": "2",
    }
    live = LiveServer(tmp_path_factory.mktemp("shared") / "data", env=env).start()  # 2 queued
    embed(live, ["warm"])
    yield live
    live.stop()


def test_a_client_that_leaves_a_shared_batch_takes_its_inputs_out(small_calls: LiveServer) -> None:
    """Its inputs were encoded to the end with the other client's, and logged 200: now the calls
    after it left hold only the other's, it logs 499, and the other is answered in full."""
    blocker, mine, theirs = TEXTS[:16], TEXTS[:96], TEXTS[96:]
    alone = embed(small_calls, mine).json()["data"]
    before = metric(small_calls, ENCODED, encoder="minilm")
    answers: list[httpx.Response] = []
    clients = [
        threading.Thread(target=lambda texts=texts: answers.append(embed(small_calls, texts)))
        for texts in (blocker, mine)
    ]
    clients[0].start()  # keeps the worker busy while the other two queue: one batch for both
    time.sleep(0.05)
    clients[1].start()
    raw = json.dumps({"model": "minilm", "input": theirs}).encode()
    head = "POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", small_calls.port)) as sock:
        sock.sendall(f"{head}content-length: {len(raw)}\r\n\r\n".encode() + raw)
        deadline = time.monotonic() + 60
        while metric(small_calls, ENCODED, encoder="minilm") - before < len(blocker) + 8:
            assert time.monotonic() < deadline  # the shared batch's first call is done
            time.sleep(0.05)
    for client in clients:
        client.join()
    wait_for_499s(small_calls, 1)
    encoded = metric(small_calls, ENCODED, encoder="minilm") - before
    assert len(blocker) + len(mine) < encoded < len(blocker) + len(mine) + len(theirs)
    (mine_answer,) = [a.json()["data"] for a in answers if len(a.json()["data"]) == len(mine)]
    got = np.array([row["embedding"] for row in mine_answer])
    want = np.array([row["embedding"] for row in alone])
    assert np.einsum("ij,ij->i", got, want).min() > 0.999  # other company, the same vectors


def test_jobs_whose_clients_left_make_room_in_a_full_queue(small_calls: LiveServer) -> None:
    """Two clients that left still held the two places of the queue: the next was told 429
    `overloaded` (with a Retry-After counting their inputs) while nothing waited for anyone."""
    left = metric(small_calls, "nestvec_requests_total", status="499")
    answers: list[httpx.Response] = []
    running = threading.Thread(target=lambda: answers.append(embed(small_calls, TEXTS)))
    running.start()
    time.sleep(0.3)
    for _ in range(2):
        send_and_leave(
            small_calls, "POST", "/v1/embeddings", {"model": "minilm", "input": TEXTS}, 0
        )
    wait_for_499s(small_calls, int(left) + 2)
    assert embed(small_calls, ["one more"]).status_code == 200
    running.join()
    assert answers[0].status_code == 200

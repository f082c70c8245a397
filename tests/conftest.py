"""Shared fixtures: one loaded model per session, apps on fresh data dirs, a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import LiveServer

from encoders import EncoderPool
from service.app import create_app
from service.settings import Settings

# The `slow` tier, by path (a file, or one test of it), and why. Everything else is the fast
# tier (`make test-fast`, `pytest -m "not slow"`): API, storage and analysis tests on the `fake`
# encoder or plain vectors, which never import torch. `make test` runs both.
SLOW: dict[str, str] = {
    "tests/e2e/": "full datasets through real models",
    "tests/encoders/test_encoders.py": "contract over every real encoder: loads them all",
    "tests/encoders/test_onnx_backend.py": "exports and runs minilm under ONNX Runtime",
    "tests/face/": "the real dlib face models",
    "tests/graph/": "GraphSAGE training and the graph encoder",
    "tests/moe/": "trains and serves the MoE encoder",
    "tests/mrl/": "trains and serves the Matryoshka encoders",
    "tests/milvus/": "starts a Milvus server per module",
    "tests/ingest/test_distributed.py": "Ray workers and two processes each loading minilm",
    "tests/ingest/test_milvus_ingest.py": "starts a Milvus server",
    "tests/ingest/test_scifact_ingest.py": "the full SciFact corpus through minilm",
    "tests/ingest/test_live_ingest.py": "live servers and CLI subprocesses on minilm",
    "tests/ingest/test_resume.py::"
    "test_sigkill_mid_build_then_resume_equals_an_uninterrupted_build": (
        "a CLI build on minilm killed mid-batch"
    ),
    "tests/recommend/test_rank_api.py": "ranking quality of the real minilm",
    "tests/service/test_api.py::test_text_search_ranks_by_meaning": "minilm's meaning",
    "tests/service/test_api.py::test_search_by_id_vector_filter_and_payload_flags": (
        "nearest neighbour by meaning (stocks -> bonds) needs minilm"
    ),
    "tests/service/test_auth_matrix.py": "every route, real face and minilm models behind them",
    "tests/service/test_batch_handler.py": "batching of the real encoders under concurrency",
    "tests/service/test_batching.py": "batching of the real minilm",
    "tests/service/test_client_gone.py": "live servers encoding SciFact abstracts with minilm",
    "tests/service/test_concurrency.py": "live servers under concurrent writes",
    "tests/service/test_crash_safety.py": "kill -9 of a live server, then recovery",
    "tests/service/test_encoder_fingerprint.py": "trains minilm-mrl in a subprocess",
    "tests/service/test_lazy_models.py": "a fresh interpreter that imports torch and loads minilm",
    "tests/test_loadtest_smoke.py": "locust and benchmark runs against a live server",
    "tests/test_docker.py": "builds and runs the image",
    "tests/test_bench_scale.py": "a benchmark run",
    "tests/test_cli_analyze.py": "`nestvec analyze` subprocesses on real datasets",
    "tests/test_cli_conventions.py::test_logs_are_pure_json_lines_by_default": (
        "a live server loading minilm"
    ),
    "tests/test_cli_conventions.py::test_text_logs_on_request": "a live server loading minilm",
    "tests/client/test_client_live.py": "a live server loading minilm and the face models",
    "tests/extras/test_runtime_imports.py": "fresh interpreters that load minilm",
    "tests/qdrant/test_qdrant_langchain.py": "LangChain through a live server loading minilm",
}


def slow_reason(nodeid: str) -> str | None:
    """Why the test `nodeid` is in the slow tier, or None when it is fast."""
    for path, reason in SLOW.items():
        if nodeid.startswith(path) and (path.endswith("/") or nodeid[len(path) :][:1] in "[:"):
            return reason
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: it must see the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of the SLOW table `slow`."""
    for item in items:
        if slow_reason(item.nodeid) is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def encoder_pool() -> EncoderPool:
    """One pool shared by every app in the session: each model loads once, on first use.

    Nothing is preloaded, so a run of the fast tier (`-m "not slow"`, the `fake` encoder)
    never imports torch; the first test that asks for minilm pays its load.
    """
    return EncoderPool()


@pytest.fixture
def make_client(tmp_path: Path, encoder_pool: EncoderPool) -> Iterator[Callable[..., TestClient]]:
    """Factory of TestClients over the real app; same data dir each call unless told."""
    opened: list[TestClient] = []

    def make(data_dir: Path | None = None, **settings: object) -> TestClient:
        cfg = Settings(data_dir=data_dir or tmp_path / "data", preload_encoders=[], **settings)
        client = TestClient(create_app(cfg, encoder_pool))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "live").start()
    yield server
    server.stop()

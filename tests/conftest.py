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


@pytest.fixture(scope="session")
def encoder_pool() -> EncoderPool:
    """The real minilm model, loaded once and shared by every app in the session."""
    pool = EncoderPool()
    pool.get("minilm")
    return pool


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

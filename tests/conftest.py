"""Shared fixtures: one loaded model per session, apps on fresh data dirs, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from encoders import EncoderPool
from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def encoder_pool() -> EncoderPool:
    """The real minilm model, loaded once and shared by every app in the session."""
    pool = EncoderPool()
    pool.get("minilm")
    return pool


@pytest.fixture
def make_client(
    tmp_path: Path, encoder_pool: EncoderPool
) -> Iterator[Callable[..., TestClient]]:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """`nestvec serve` in a subprocess on loopback, as a user starts it."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir, self.port = data_dir, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> LiveServer:
        cmd = [str(Path(sys.executable).parent / "nestvec"), "serve", "--data-dir",
               str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, "NESTVEC_LOG_LEVEL": "warning"}
        self.proc = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError("server did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: uvicorn shuts down gracefully, snapshots saved
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "live").start()
    yield server
    server.stop()

"""A real Milvus server for tests and benchmarks: the PyPI package `milvus` ("Embedded Milvus",
2.3.x) runs a standalone Milvus process (its own etcd and local storage) on a loopback port.

It speaks the same gRPC protocol as a cluster, unlike Milvus Lite. `NESTVEC_TEST_MILVUS_URI`
points the Milvus tests (and `loadtest/bench_milvus.py --milvus-uri`) at a server: a URI such as
`http://127.0.0.1:19530`, or `embedded` for one of these, started once per process.
"""

from __future__ import annotations

import atexit
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "NESTVEC_TEST_MILVUS_URI"
_shared: EmbeddedMilvus | None = None


def available() -> str | None:
    """None when an embedded server can run here, else why not."""
    try:
        import milvus  # noqa: F401
    except ImportError:
        return "the `milvus` package (Embedded Milvus) is not installed: pip install milvus"
    if os.uname().sysname != "Linux":
        return "Embedded Milvus ships Linux binaries only"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedMilvus:
    """One Milvus server process over a data directory; stop and start it again at will."""

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        from milvus import MilvusServer, MilvusServerConfig

        class _Config(MilvusServerConfig):  # type: ignore[misc]
            def try_bind_port(self, port: int) -> Any:
                # The launcher test-binds each port before Milvus does. Without SO_REUSEADDR a
                # port of a server just stopped stays refused for a minute (TIME_WAIT), so a
                # restart could not keep its port. Milvus itself binds with SO_REUSEADDR.
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                    sock.listen()
                except OSError:
                    sock.close()
                    return None
                return sock

        self.port = port or free_port()
        self.server = MilvusServer(_Config())
        self.server.show_startup_banner = False
        self.server.set_base_dir(str(base_dir))
        self.server.config.update(proxy_port=self.port)  # fixed: clients keep their URI
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self, attempts: int = 5) -> EmbeddedMilvus:
        for attempt in range(attempts):
            try:
                self.server.start()  # waits for /healthz
                return self
            except RuntimeError:  # a port still held by the process just stopped
                if attempt == attempts - 1:
                    raise
                time.sleep(1)
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a second: as an operator's restart or a crash."""
        self.server.stop()

    @property
    def running(self) -> bool:
        return bool(self.server.running)


def shared_uri(value: str) -> str:
    """The URI `NESTVEC_TEST_MILVUS_URI` names; `embedded` starts one server per process."""
    global _shared
    if value != "embedded":
        return value
    if _shared is None:
        why = available()
        if why is not None:
            raise RuntimeError(f"{ENV}=embedded: {why}")
        base = Path(tempfile.mkdtemp(prefix="nestvec-milvus-server-"))
        _shared = EmbeddedMilvus(base).start()
        atexit.register(_shared.stop)
    return _shared.uri

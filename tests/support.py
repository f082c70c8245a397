"""Test helpers importable from any test module (`tests` is on pytest's pythonpath)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from service.envelopes import OPENAI_CODES

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """`nestvec serve` in a subprocess on loopback, as a user starts it."""

    def __init__(
        self, data_dir: Path, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir, self.port, self.extra_env = data_dir, port or free_port(), env or {}
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> LiveServer:
        cmd = [
            str(Path(sys.executable).parent / "nestvec"),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, "NESTVEC_LOG_LEVEL": "warning", **self.extra_env}
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


def ndcg_at_k(run: dict[str, list[str]], qrels: dict[str, dict[str, int]], k: int = 10) -> float:
    """Mean nDCG@k over the judged queries, linear gains (as pytrec_eval's ndcg_cut)."""
    import math

    total = 0.0
    for qid, judged in qrels.items():
        ranked = run.get(qid, [])[:k]
        dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked))
        ideal = sorted(judged.values(), reverse=True)[:k]
        idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / len(qrels)


RANGE_OPS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _same(a: object, b: object) -> bool:
    """Equality as the filter defines it: types must agree (True is not 1, 1.0 is not 1)."""
    return type(a) is type(b) and a == b


def _condition(c: dict, payload: dict) -> bool:
    if "key" not in c:
        return evaluate_filter(c, payload)
    value: object = payload
    for part in c["key"].split("."):
        value = value.get(part) if isinstance(value, dict) else None
    values = value if isinstance(value, list) else ([] if value is None else [value])
    if "range" in c:
        bounds = c["range"]
        return any(
            type(v) in (int, float)
            and all(op(v, bounds[name]) for name, op in RANGE_OPS.items() if name in bounds)
            for v in values
        )
    match = c["match"]
    if "value" in match:
        return any(_same(v, match["value"]) for v in values)
    if "any" in match:
        return any(_same(v, m) for v in values for m in match["any"])
    return any(not any(_same(v, m) for m in match["except"]) for v in values)


def evaluate_filter(flt: dict, payload: dict) -> bool:
    """Brute-force reading of a Qdrant-style filter on one payload (the tests' oracle)."""
    ok = all(_condition(c, payload) for c in flt.get("must") or [])
    if flt.get("should"):  # at least one holds; an empty should is no constraint (Qdrant's)
        ok = ok and any(_condition(c, payload) for c in flt["should"])
    return ok and not any(_condition(c, payload) for c in flt.get("must_not") or [])


# REST helpers shared by the API tests -------------------------------------------------------
DOCS = {
    "cat": ("Cats purr when they are content.", {"topic": "pets", "year": 2020}),
    "dog": ("Dogs bark at the mail carrier.", {"topic": "pets", "year": 2022}),
    "stocks": ("Stock markets fell sharply on Monday.", {"topic": "finance", "year": 2021}),
    "bonds": ("Bond yields rose after the rate decision.", {"topic": "finance", "year": 2023}),
}


def create_docs(client: Any, index_type: str = "hnsw", encoder: str = "minilm") -> None:
    """Collection `docs` holding DOCS; `encoder="fake"` where the test is not about meaning."""
    body = {"name": "docs", "encoder": encoder, "index": {"type": index_type}}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": k, "text": t, "payload": p} for k, (t, p) in DOCS.items()]
    r = client.put("/v1/collections/docs/points", json={"points": points})
    assert r.json() == {"upserted": 4}


# OpenAI's and Cohere's routes answer a refusal 400, as those servers do (their SDKs raise it as
# BadRequestError; they retried nestvec's 409 and raised its 422 as another class)
PEER_400_PATHS = frozenset(
    {"/v1/embeddings", "/v1/models", "/v1/models/{name}", "/v2/embed", "/v1/rerank", "/v2/rerank"}
)


def refusal_status(path: str, status: int = 422) -> int:
    """nestvec's status for a refused request (422, or 409), or 400 on OpenAI's and Cohere's."""
    return 400 if path in PEER_400_PATHS else status


def assert_error(r: Any, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    # OpenAI's and TEI's routes add their clients' fields (service.envelopes), nothing else
    extra = set(body) - {"code", "message", "field"}
    assert {"code", "message", "field"} <= set(body) and extra <= {"error", "error_type"}, body
    assert body["code"] == code and body["message"], body
    if "error" in body:  # the same error as the peer's client reads it
        peer = body["error"]
        openai_code = OPENAI_CODES.get(code, code)  # OpenAI's own where it has one
        assert peer == body["message"] or (peer["code"], peer["param"]) == (
            openai_code,
            body["field"],
        )
    if field is not None:
        assert body["field"] == field


def milvus_lite_uri() -> str:
    """A fresh Milvus Lite file: share one per test module, since each file starts a server.

    With NESTVEC_TEST_MILVUS_URI set (a server's URI, or `embedded`), that server instead.
    """
    override = os.environ.get("NESTVEC_TEST_MILVUS_URI")
    if override:
        from embedded_milvus import shared_uri

        return shared_uri(override)
    folder = tempfile.mkdtemp(prefix="nestvec-milvus-")
    atexit.register(shutil.rmtree, folder, True)  # 3 MB a module; runs left ~60 in /tmp
    return str(Path(folder) / "milvus.db")

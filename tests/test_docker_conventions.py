"""What the container files promise, read from the files (no Docker engine here): a CPU torch
from a build argument, a chosen base image, the served extras only, a /readyz healthcheck, time
for the SIGTERM snapshot, and a port bound to 127.0.0.1 unless API keys are set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text()


class _ComposeLoader(yaml.SafeLoader):
    """YAML with compose's merge tags (`!override`, `!reset`) kept as plain values."""


_ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: loader.construct_sequence(node),  # type: ignore[arg-type]
)


def _compose(name: str) -> dict[str, Any]:
    return yaml.load((DOCKER / name).read_text(), Loader=_ComposeLoader)  # noqa: S506


def _arg(name: str) -> str:
    found = re.search(rf"^ARG {name}=(.*)$", DOCKERFILE, re.MULTILINE)
    assert found, f"no ARG {name} with a default"
    return found.group(1)


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def test_torch_is_the_cpu_wheel_from_a_build_argument() -> None:
    assert _arg("TORCH_INDEX") == "https://download.pytorch.org/whl/cpu"
    assert _arg("TORCH_SPEC").startswith("torch==")
    assert '--index-url "$TORCH_INDEX" "$TORCH_SPEC"' in DOCKERFILE
    assert '--no-index --find-links "$TORCH_WHEELS" "$TORCH_SPEC"' in DOCKERFILE  # offline
    # torch is in place before the project, whose `torch>=2.4` would otherwise pull CUDA
    assert DOCKERFILE.index("$TORCH_SPEC") < DOCKERFILE.index('pip install --no-cache-dir ".')


def test_base_image_is_a_build_argument() -> None:
    assert _arg("BASE_IMAGE") == "python:3.11-slim-bookworm"
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert froms == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


def test_only_the_served_extras_are_installed() -> None:
    assert _arg("EXTRAS") == "milvus"
    installs = re.findall(r'pip install --no-cache-dir "\.(.*?)"', DOCKERFILE)
    assert installs == ["${EXTRAS:+[$EXTRAS]}"]
    for extra in ("dev", "ray"):
        assert f"[{extra}" not in DOCKERFILE


def test_healthchecks_probe_readyz() -> None:
    healthcheck = DOCKERFILE.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    assert "/readyz" in healthcheck and "/healthz" not in healthcheck
    service = _compose("compose.yaml")["services"]["nestvec"]
    assert any("/readyz" in part for part in service["healthcheck"]["test"])


def test_stop_grace_period_leaves_time_for_the_snapshot() -> None:
    service = _compose("compose.yaml")["services"]["nestvec"]
    assert _seconds(service["stop_grace_period"]) >= 60  # Docker's default is 10 s


def test_compose_binds_loopback_unless_keys_are_set() -> None:
    service = _compose("compose.yaml")["services"]["nestvec"]
    assert service["ports"] == ["127.0.0.1:8000:8000"]
    public = _compose("compose.public.yaml")["services"]["nestvec"]
    assert public["ports"] == ["0.0.0.0:8000:8000"]
    # `:?` makes compose refuse to start the public variant without a key
    assert public["environment"]["NESTVEC_API_KEYS"].startswith("${NESTVEC_API_KEYS:?")
    # the services beside it have no auth either: every published port stays on this machine
    for name, other in _compose("compose.yaml")["services"].items():
        for port in other.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_hnswlib_is_built_for_any_x86_cpu_not_the_build_hosts() -> None:
    """hnswlib's setup adds -march=native: an image built on an AVX-512 host died with SIGILL."""
    build = DOCKERFILE.split("\nFROM ")[1]  # the build stage
    assert "ENV HNSWLIB_NO_NATIVE=1" in build
    assert build.index("HNSWLIB_NO_NATIVE") < build.index('pip install --no-cache-dir ".')


def test_dockerignore_keeps_every_package() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "*" not in ignored  # an allow-list drops every package nobody added to it
    for package in ("service", "encoders", "index", "ingest", "recommend", "diagnostics"):
        assert package not in ignored and f"{package}/" not in ignored
    assert "pyproject.toml" not in ignored and "README.md" not in ignored

"""The one generic registry: built-ins by table, unavailable when their pip extra is missing.

A missing dependency is simulated with real modules: `extra_probe` imports a package that is
not installed, and a table entry may name an extra whose module cannot be found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import assert_error

import encoders.registry
import index.registry
from encoders import EncoderError, EncoderPool
from encoders.errors import EncoderExtraMissing, EncoderNotFound
from index.errors import IndexError_, IndexExtraMissing, UnknownIndexType
from nestvec.registry import EXTRA_MODULES, ExtraMissing, Registry, require
from service.app import create_app
from service.settings import Settings

PROBE_MODULE = "nestvec_probe_dependency"
PIP_LINE = "pip install 'nestvec[probe]'"


@pytest.fixture
def probe_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pip extra named `probe` whose only dependency is not installed."""
    monkeypatch.setitem(EXTRA_MODULES, "probe", (PROBE_MODULE,))


def encoder_registry(**extra: tuple[str, str | None]) -> Registry[type]:
    builtins = {**encoders.registry.BUILTINS, **extra}
    return Registry(
        "encoder", "encoder", "nestvec.encoders", builtins, EncoderNotFound, EncoderExtraMissing
    )


@pytest.fixture
def probes(probe_extra: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The service's encoder and index registries, each with built-ins whose extra is missing."""
    fresh = encoder_registry(
        **{
            "probe-import": ("extras.extra_probe:ProbeEncoder", "probe"),  # its import fails
            "probe-late": ("encoders.fake:FakeEncoder", "probe"),  # imports, dependency absent
        }
    )
    monkeypatch.setattr(encoders.registry, "REGISTRY", fresh)
    flat = ("index.backends.flat:FlatIndex", "probe")
    backends = {**index.registry.BUILTINS, "probe-index": flat}
    indexes = Registry(
        "index type", "index.type", "nestvec.indexes", backends, UnknownIndexType, IndexExtraMissing
    )
    monkeypatch.setattr(index.registry, "REGISTRY", indexes)
    yield


def test_missing_dependency_import_lists_unavailable(probe_extra: None) -> None:
    reg = encoder_registry(**{"probe-import": ("extras.extra_probe:ProbeEncoder", "probe")})
    entries = {e.name: e for e in reg.entries()}
    assert not entries["probe-import"].available
    assert entries["probe-import"].missing == PROBE_MODULE
    assert entries["probe-import"].install == PIP_LINE
    assert entries["minilm"].available and entries["minilm"].install is None
    assert "probe-import" not in reg.names() and "minilm" in reg.names()


def test_using_an_unavailable_builtin_names_the_pip_line(probe_extra: None) -> None:
    reg = encoder_registry(**{"probe-import": ("extras.extra_probe:ProbeEncoder", "probe")})
    with pytest.raises(EncoderExtraMissing) as info:
        reg.get("probe-import")
    assert isinstance(info.value, ExtraMissing) and isinstance(info.value, EncoderError)
    assert info.value.code == "extra_missing" and info.value.field == "encoder"
    assert info.value.message == (
        f"encoder 'probe-import' needs the 'probe' extra ({PROBE_MODULE} is not installed): "
        f"{PIP_LINE}"
    )


def test_late_imported_dependency_is_found_by_spec(probe_extra: None) -> None:
    """A module that imports its dependency only when used (face-dlib and dlib) still counts."""
    reg = encoder_registry(**{"probe-late": ("encoders.fake:FakeEncoder", "probe")})
    with pytest.raises(ExtraMissing, match=r"pip install 'nestvec\[probe\]'"):
        reg.get("probe-late")
    assert reg.get("fake").__name__ == "FakeEncoder"  # the same class under its own name


def test_a_missing_module_outside_the_extra_is_a_bug_not_unavailable() -> None:
    reg = encoder_registry(**{"broken": ("extras.extra_probe:ProbeEncoder", None)})
    with pytest.raises(ModuleNotFoundError, match=PROBE_MODULE):
        reg.get("broken")


def test_unknown_names_still_list_the_available_ones() -> None:
    with pytest.raises(EncoderNotFound, match=r"unknown encoder 'nope'; available: .*minilm"):
        encoder_registry().get("nope")


def test_require_names_the_extra(probe_extra: None) -> None:
    with pytest.raises(ExtraMissing, match=r"comes with the 'probe' extra: pip install"):
        require(PROBE_MODULE, "probe", "encoder")
    assert require("json", "probe").__name__ == "json"


def test_index_registry_is_the_same_registry(probes: None) -> None:
    assert "probe-index" not in index.registry.available_indexes()
    assert {"hnsw", "flat", "faiss-hnsw", "ivf", "ivfpq"} <= set(index.registry.available_indexes())
    with pytest.raises(ExtraMissing) as info:
        index.registry.index_class("probe-index")
    assert isinstance(info.value, IndexError_)  # the family's own `except` clauses apply
    assert info.value.field == "index.type"


@pytest.fixture
def app_client(probes: None, tmp_path: Path) -> Iterator[TestClient]:
    """The real app over a fresh data dir; nothing preloaded, so no model loads."""
    settings = Settings(data_dir=tmp_path / "data", preload_encoders=[])
    with TestClient(create_app(settings, EncoderPool())) as client:
        yield client


def test_get_encoders_lists_unavailable_with_the_install_line(app_client: TestClient) -> None:
    listed = {e["name"]: e for e in app_client.get("/v1/encoders").json()["encoders"]}
    for name in ("probe-import", "probe-late"):
        assert listed[name] == {
            "name": name,
            "available": False,
            "extra": "probe",
            "install": PIP_LINE,
        }
    minilm = listed["minilm"]
    assert minilm["available"] is True and minilm["extra"] is None and minilm["install"] is None
    assert minilm["modality"] == "text" and minilm["dim"] == 384  # the existing fields stay


def test_embedding_with_an_unavailable_encoder_is_409(app_client: TestClient) -> None:
    r = app_client.post("/v1/embed", json={"encoder": "probe-import", "inputs": ["hi"]})
    assert_error(r, 409, "extra_missing", "encoder")
    assert PIP_LINE in r.json()["message"]


def test_a_collection_on_an_unavailable_backend_is_409(app_client: TestClient) -> None:
    body = {"name": "w", "dim": 3, "index": {"type": "probe-index"}}
    r = app_client.post("/v1/collections", json=body)
    assert_error(r, 409, "extra_missing", "index.type")
    assert PIP_LINE in r.json()["message"]

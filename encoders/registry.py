"""Encoder registry: built-ins from a table (imported lazily), third-party plugins by entry point.

A built-in whose pip extra is not installed (face-dlib without `nestvec[face]`) is listed as
unavailable, and using it raises `ExtraMissing` naming the pip line. Plugins declare
`[project.entry-points."nestvec.encoders"] my-encoder = "pkg.module:MyEncoder"`.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from encoders.artifacts import default_models_dir
from encoders.base import Encoder, describe_encoder
from encoders.errors import (
    ArtifactUnreadable,
    EncoderError,
    EncoderExtraMissing,
    EncoderNotFound,
    InvalidInput,
)
from nestvec.registry import Entry, Registry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nestvec.encoders"
# name -> ("module:Class", pip extra or None). Imported on first use so that importing `encoders`
# stays cheap (no torch until an encoder is needed) and a missing extra only marks its encoder.
BUILTINS: dict[str, tuple[str, str | None]] = {
    "minilm": ("encoders.minilm:MiniLMEncoder", None),
    "fake": ("encoders.fake:FakeEncoder", None),
    "face-dlib": ("encoders.face.encoder:FaceEncoder", "face"),
    "minilm-mrl": ("encoders.mrl.encoder:MiniLMMRLEncoder", None),
    "minilm-mrl-adapter": ("encoders.mrl.adapter_encoder:MiniLMAdapterEncoder", None),
    "moe-minilm": ("encoders.moe.encoder:MoEMiniLMEncoder", None),
    "graph-cora": ("encoders.graph.encoder:GraphEncoder", None),
}

REGISTRY: Registry[type] = Registry(
    "encoder", "encoder", ENTRY_POINT_GROUP, BUILTINS, EncoderNotFound, EncoderExtraMissing
)

T = TypeVar("T", bound=type)


def register_encoder(name: str) -> Callable[[T], T]:
    """Class decorator that registers an encoder class under `name`."""
    return REGISTRY.register(name)


def available_encoders() -> list[str]:
    """Names of the encoders usable now (built-in with their extras installed, and plugins)."""
    return REGISTRY.names()


def encoder_entries() -> list[Entry]:
    """Every encoder name, with whether it is available and the extra that provides it."""
    return REGISTRY.entries()


def encoder_class(name: str) -> type:
    """The class registered under `name`; EncoderNotFound naming the known ones, or ExtraMissing."""
    return REGISTRY.get(name)


def takes_models_dir(cls: type) -> bool:
    """Trained encoders declare a `models_dir` parameter to find their artifacts."""
    return "models_dir" in inspect.signature(cls).parameters


def encoder_fingerprint(name: str, models_dir: Path | None = None) -> str:
    """The fingerprint `name` would have if loaded now (hashes its files, loads no model)."""
    cls: Any = encoder_class(name)
    if not hasattr(cls, "artifact_fingerprint"):  # a plugin outside BaseEncoder: its name only
        from encoders.artifacts import fingerprint

        return fingerprint(f"encoder:{name}")
    if not takes_models_dir(cls):
        return str(cls.artifact_fingerprint())
    return str(cls.artifact_fingerprint(models_dir or default_models_dir()))


def describe_entry(entry: Entry, pool: EncoderPool, models_dir: Path | None) -> dict[str, Any]:
    """`GET /v1/encoders` item: the description of an available encoder, else how to get it."""
    status = {"available": entry.available, "extra": entry.extra, "install": entry.install}
    if not entry.available:
        return {"name": entry.name, **status}
    return {**pool.describe(entry.name, models_dir), **status}


class EncoderPool:
    """Loaded encoder instances, created once on first use and shared (models are heavy).

    Trained encoders are keyed by their models directory too, so apps with different data
    directories sharing one pool (tests do) never see each other's artifacts.
    """

    def __init__(
        self, options: dict[str, dict[str, Any]] | None = None, models_dir: Path | None = None
    ) -> None:
        self._options = options or {}
        # for callers that pass no models directory; the service always passes its Settings' one
        self.models_dir = models_dir if models_dir is not None else default_models_dir()
        self._instances: dict[tuple[str, Path | None], Encoder] = {}
        self._lock = threading.Lock()

    def _key(self, name: str, models_dir: Path | None) -> tuple[str, Path | None]:
        if not takes_models_dir(encoder_class(name)):
            return (name, None)
        # callers without a data dir of their own (ingest workers) use the pool's
        return (name, models_dir if models_dir is not None else self.models_dir)

    def get(self, name: str, models_dir: Path | None = None) -> Encoder:
        """The loaded encoder `name`, loading it on first use."""
        key = self._key(name, models_dir)
        if key in self._instances:
            return self._instances[key]
        cls = encoder_class(name)
        kwargs = dict(self._options.get(name, {}))
        if key[1] is not None:
            kwargs["models_dir"] = key[1]
        with self._lock:
            if key not in self._instances:
                self._instances[key] = _load(name, cls, kwargs, key[1])
        return self._instances[key]

    def fingerprint(self, name: str, models_dir: Path | None = None) -> str:
        """The loaded instance's fingerprint, or what loading it now would give."""
        loaded: Any = self._instances.get(self._key(name, models_dir))
        if loaded is not None and hasattr(loaded, "fingerprint"):
            return str(loaded.fingerprint)
        return encoder_fingerprint(name, models_dir)

    def describe(self, name: str, models_dir: Path | None = None) -> dict[str, Any]:
        """Description of an encoder; uses class attributes so listing does not load models."""
        loaded = self._instances.get(self._key(name, models_dir))
        described = describe_encoder(loaded or encoder_class(name), models_dir)
        artifact = described.get("artifact")
        if artifact and artifact.get("available") and getattr(loaded, "fallback", False):
            # trained after this server loaded the fallback, which it serves until a restart
            artifact["serving"] = artifact.get("fallback")
            artifact["note"] = f"trained after {name} was loaded: restart the server to serve it"
        return described


def check_constructor_options(name: str, options: dict[str, Any]) -> None:
    """Refuse, before any model loads, options the encoder's constructor would refuse at its
    first use: unknown names, and values outside a declared `option_choices` tuple."""
    cls = encoder_class(name)
    accepted = [p for p in inspect.signature(cls).parameters if p != "models_dir"]
    for key, value in options.items():
        if key not in accepted:
            choices = ", ".join(accepted) or "none"
            raise InvalidInput(f"{name!r} has no option {key!r} (it takes: {choices})")
        allowed = getattr(cls, "option_choices", {}).get(key)
        if allowed is not None and value not in allowed:
            raise InvalidInput(f"{name!r} option {key!r}: {value!r} is not one of {allowed}")


def _load(name: str, cls: Any, kwargs: dict[str, Any], models_dir: Path | None) -> Encoder:
    """An instance of `cls`; a trained artifact that is there but does not load (a truncated
    model.pt, a missing weights file) is `ArtifactUnreadable` naming where, not a bare 500 on
    every request that uses it."""
    try:
        return cls(**kwargs)  # type: ignore[no-any-return]
    except (EncoderError, ImportError):  # not trained, bad options, a missing extra: as raised
        raise
    except Exception as exc:  # noqa: BLE001 - any loader's error on damaged files
        if models_dir is None:
            raise  # an encoder that ships with its package: a bug, kept with its traceback
        log.error("encoder %r: its files under %s do not load: %r", name, models_dir, exc)
        message = (
            f"encoder {name!r}: its trained files under {models_dir} do not load "
            f"({type(exc).__name__}: {exc}); train it again (nestvec train) or restore them"
        )
        raise ArtifactUnreadable(" ".join(message.split())[:500], "encoder") from exc

"""Encoder registry: built-ins register by decorator, third-party plugins by entry point.

Plugins declare `[project.entry-points."nestvec.encoders"] my-encoder = "pkg.module:MyEncoder"`.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from encoders.artifacts import default_models_dir
from encoders.base import Encoder, describe_encoder
from encoders.errors import EncoderNotFound

ENTRY_POINT_GROUP = "nestvec.encoders"
# Modules whose import registers the built-in encoders; imported on first registry use so that
# importing `encoders` stays cheap (no torch until an encoder is actually needed).
BUILTIN_MODULES = (
    "encoders.minilm",
    "encoders.face.encoder",
    "encoders.mrl.encoder",
    "encoders.mrl.adapter_encoder",
    "encoders.moe.encoder",
    "encoders.graph.encoder",
)

_REGISTRY: dict[str, type] = {}
_loaded = False
_load_lock = threading.Lock()

T = TypeVar("T", bound=type)


def register_encoder(name: str) -> Callable[[T], T]:
    """Class decorator that registers an encoder class under `name`."""

    def decorate(cls: T) -> T:
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_plugins() -> None:
    global _loaded
    with _load_lock:
        if _loaded:
            return
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _REGISTRY.setdefault(ep.name, ep.load())
        _loaded = True


def available_encoders() -> list[str]:
    """Names of every registered encoder, built-in and plugin."""
    _load_plugins()
    return sorted(_REGISTRY)


def encoder_class(name: str) -> type:
    """The class registered under `name`, or EncoderNotFound naming the known encoders."""
    _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise EncoderNotFound(f"unknown encoder {name!r}; available: {known}", "encoder") from None


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


class EncoderPool:
    """Loaded encoder instances, created once on first use and shared (models are heavy).

    Trained encoders are keyed by their models directory too, so apps with different data
    directories sharing one pool (tests do) never see each other's artifacts.
    """

    def __init__(self, options: dict[str, dict[str, Any]] | None = None) -> None:
        self._options = options or {}
        self._instances: dict[tuple[str, Path | None], Encoder] = {}
        self._lock = threading.Lock()

    def _key(self, name: str, models_dir: Path | None) -> tuple[str, Path | None]:
        if not takes_models_dir(encoder_class(name)):
            return (name, None)
        # callers without a data dir of their own (ingest workers) use the service's default
        return (name, models_dir if models_dir is not None else default_models_dir())

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
                self._instances[key] = cls(**kwargs)
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
        return describe_encoder(loaded or encoder_class(name), models_dir)

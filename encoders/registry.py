"""Encoder registry: built-ins register by decorator, third-party plugins by entry point.

Plugins declare `[project.entry-points."nestvec.encoders"] my-encoder = "pkg.module:MyEncoder"`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from encoders.base import Encoder, describe_encoder
from encoders.errors import EncoderNotFound

ENTRY_POINT_GROUP = "nestvec.encoders"
# Modules whose import registers the built-in encoders; imported on first registry use so that
# importing `encoders` stays cheap (no torch until an encoder is actually needed).
BUILTIN_MODULES = ("encoders.minilm",)

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


class EncoderPool:
    """Loaded encoder instances, created once on first use and shared (models are heavy)."""

    def __init__(self, options: dict[str, dict[str, Any]] | None = None) -> None:
        self._options = options or {}
        self._instances: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Encoder:
        """The loaded encoder `name`, loading it on first use."""
        if name in self._instances:
            return self._instances[name]
        cls = encoder_class(name)
        with self._lock:
            if name not in self._instances:
                self._instances[name] = cls(**self._options.get(name, {}))
        return self._instances[name]

    def describe(self, name: str) -> dict[str, Any]:
        """Description of an encoder; uses class attributes so listing does not load models."""
        return describe_encoder(self._instances.get(name) or encoder_class(name))

"""Index backend registry: built-ins register by decorator, plugins by entry point.

Plugins declare `[project.entry-points."nestvec.indexes"] my-index = "pkg.module:MyIndex"`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from index.errors import InvalidIndexParams, UnknownIndexType

ENTRY_POINT_GROUP = "nestvec.indexes"
BUILTIN_MODULES = (
    "index.backends.hnsw",
    "index.backends.flat",
    "index.backends.faiss_hnsw",
    "index.backends.ivf",
    "index.backends.milvus",
)

_REGISTRY: dict[str, type] = {}
_loaded = False
_load_lock = threading.Lock()

T = TypeVar("T", bound=type)


def register_index(name: str) -> Callable[[T], T]:
    """Class decorator that registers an index backend under `name`."""

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


def available_indexes() -> list[str]:
    """Names of every registered backend."""
    _load_plugins()
    return sorted(_REGISTRY)


def index_class(name: str) -> type:
    """The backend class registered under `name`, or UnknownIndexType naming the known ones."""
    _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownIndexType(
            f"unknown index type {name!r}; available: {known}", "index.type"
        ) from None


def validate_params(
    model: type[BaseModel], values: dict[str, Any], field: str, dim: int | None = None
) -> Any:
    """Validate backend parameters (checks may need `dim`), as InvalidIndexParams on failure."""
    try:
        return model.model_validate(values, context={"dim": dim})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidIndexParams(
            f"{where}: {first['msg']}", f"{field}.{where}" if where else field
        ) from None


def with_defaults(params: BaseModel, defaults: dict[str, Any] | None) -> Any:
    """Fill parameters left unset (None) from service-wide defaults (e.g. the Milvus URI).

    The defaults are not written into a collection's config, so they follow the settings.
    """
    unset = {k: v for k, v in (defaults or {}).items() if getattr(params, k, v) is None}
    return params.model_copy(update=unset) if unset else params

"""Index backend registry: built-ins from a table (imported lazily), plugins by entry point.

Plugins declare `[project.entry-points."nestvec.indexes"] my-index = "pkg.module:MyIndex"`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from index.errors import IndexExtraMissing, InvalidIndexParams, UnknownIndexType
from nestvec.fields import field_path
from nestvec.registry import Entry, Registry

ENTRY_POINT_GROUP = "nestvec.indexes"
# name -> ("module:Class", pip extra or None), imported on first use
BUILTINS: dict[str, tuple[str, str | None]] = {
    "hnsw": ("index.backends.hnsw:HnswIndex", None),
    "flat": ("index.backends.flat:FlatIndex", None),
    "faiss-hnsw": ("index.backends.faiss_hnsw:FaissHnswIndex", None),
    "ivf": ("index.backends.ivf:IvfFlatIndex", None),
    "ivfpq": ("index.backends.ivf:IvfPqIndex", None),
    "milvus": ("index.backends.milvus:MilvusIndex", "milvus"),
}

REGISTRY: Registry[type] = Registry(
    "index type", "index.type", ENTRY_POINT_GROUP, BUILTINS, UnknownIndexType, IndexExtraMissing
)

T = TypeVar("T", bound=type)


def register_index(name: str) -> Callable[[T], T]:
    """Class decorator that registers an index backend under `name`."""
    return REGISTRY.register(name)


def available_indexes() -> list[str]:
    """Names of the backends usable now (built-in with their extras installed, and plugins)."""
    return REGISTRY.names()


def index_entries() -> list[Entry]:
    """Every backend name, with whether it is available and the extra that provides it."""
    return REGISTRY.entries()


def index_class(name: str) -> type:
    """The backend class under `name`; UnknownIndexType naming the known ones, or ExtraMissing."""
    return REGISTRY.get(name)


def validate_params(
    model: type[BaseModel], values: dict[str, Any], field: str, dim: int | None = None
) -> Any:
    """Validate backend parameters (checks may need `dim`), as InvalidIndexParams on failure."""
    try:
        return model.model_validate(values, context={"dim": dim})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"])
        message = f"{where}: {first['msg']}"
        if first["type"] == "extra_forbidden":  # a typo: say what would have been accepted
            message += f"; valid keys: {', '.join(model.model_fields)}"
        raise InvalidIndexParams(message, f"{field}.{where}" if where else field) from None


def with_defaults(params: BaseModel, defaults: dict[str, Any] | None) -> Any:
    """Fill parameters left unset (None) from service-wide defaults (e.g. the Milvus URI).

    The defaults are not written into a collection's config, so they follow the settings.
    """
    unset = {k: v for k, v in (defaults or {}).items() if getattr(params, k, v) is None}
    return params.model_copy(update=unset) if unset else params

"""Where a build writes: a new collection is staged under a hidden name and renamed when done.

`nestvec serve` opens only directories named like collections, so a staged build (killed,
failed or still running) is never served half-written. A build into an existing collection
writes in place, as the service would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from index.catalog import STAGING_PREFIX, check_name, validate_config
from index.collection import STORE_FILE, Collection, CollectionConfig, IndexDefaults
from index.registry import index_class, validate_params
from index.store import PointStore
from ingest.errors import ConfigConflict
from ingest.progress import INGEST_KEY, BuildState


@dataclass(frozen=True)
class CollectionRequest:
    """Collection settings from the command line; None means "not given"."""

    name: str
    dim: int
    encoder: str | None = None
    metric: str | None = None
    index_type: str | None = None
    index_params: dict[str, Any] | None = None

    def new_config(self) -> CollectionConfig:
        """The validated config of a new collection (defaults filled in)."""
        return validate_config(
            CollectionConfig(
                name=self.name,
                dim=self.dim,
                metric=self.metric or "cosine",
                encoder=self.encoder,
                index_type=self.index_type or "hnsw",
                index_params=self.index_params or {},
            )
        )

    def check_against(self, existing: CollectionConfig) -> None:
        """Raise ConfigConflict if a given setting differs from the existing collection's."""
        given: dict[str, Any] = {
            "dim": self.dim,
            "encoder": self.encoder,
            "metric": self.metric,
            "index_type": self.index_type,
        }
        if self.index_params is not None:
            backend: Any = index_class(self.index_type or existing.index_type)
            params = validate_params(backend.Params, self.index_params, "params", self.dim)
            given["index_params"] = params.model_dump()
        have = asdict(existing)
        differ = [k for k, v in given.items() if v is not None and v != have[k]]
        if differ:
            raise ConfigConflict(
                f"collection {self.name!r} exists with "
                + ", ".join(f"{k}={have[k]!r}" for k in differ)
                + "; leave those options out or choose another --collection",
                differ[0],
            )


@dataclass
class Target:
    """The collection directory being written, and its store."""

    path: Path
    final: Path
    store: PointStore
    config: CollectionConfig
    index_defaults: IndexDefaults | None = None  # where a remote index (Milvus) lives

    @property
    def staged(self) -> bool:
        return self.path != self.final

    def state(self) -> BuildState | None:
        """The build recorded in this collection, if any."""
        stored = self.store.read_config().get(INGEST_KEY)
        return None if stored is None else BuildState.from_json(stored)

    def record(self, state: BuildState) -> None:
        self.store.write_config({INGEST_KEY: state.to_json()})

    def discard(self) -> None:
        """Remove a staged build (a collection that existed before is left alone)."""
        self.store.close()
        if self.staged:
            shutil.rmtree(self.path, ignore_errors=True)

    def publish(self) -> None:
        """Make a staged build a collection (an atomic rename)."""
        if self.staged:
            if self.final.exists():
                raise ConfigConflict(f"collection {self.final.name!r} appeared meanwhile", "name")
            self.path.rename(self.final)


def open_target(
    data_dir: Path,
    request: CollectionRequest,
    key: dict[str, Any],
    notes: Callable[[str], None] = print,
    index_defaults: IndexDefaults | None = None,
) -> Target:
    """The existing collection, the staged build of the same source, or a new staged one."""
    target = _find_or_stage(data_dir, request, key, notes, index_defaults)
    target.index_defaults = index_defaults
    return target


def _find_or_stage(
    data_dir: Path,
    request: CollectionRequest,
    key: dict[str, Any],
    notes: Callable[[str], None],
    index_defaults: IndexDefaults | None,
) -> Target:
    root = Path(data_dir) / "collections"
    final = root / check_name(request.name)
    if (final / STORE_FILE).exists():
        target = _open(final, final)
        request.check_against(target.config)
        return target
    if final.exists() or final.is_symlink():  # found only at the end, after the whole build
        what = "a folder" if final.is_dir() else "a file"
        message = f"{final} is {what} but no collection (no {STORE_FILE}): move it away"
        raise ConfigConflict(message, "name")
    staging = root / f"{STAGING_PREFIX}{request.name}"
    if (staging / STORE_FILE).exists():
        target = _open(staging, final)
        state = target.state()
        try:
            request.check_against(target.config)
            if state is not None and state.key == key:
                return target
        except ConfigConflict:
            pass
        notes(f"discarding the unfinished build in {staging} (another source or settings)")
        target.discard()
    shutil.rmtree(staging, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    Collection.create(staging, request.new_config(), index_defaults).close()
    return _open(staging, final)


def _open(path: Path, final: Path) -> Target:
    store = PointStore(path / STORE_FILE, dim=0)
    config = CollectionConfig.from_stored(store.read_config())
    store.dim = config.dim
    return Target(path, final, store, config)


def existing_config(data_dir: Path, name: str) -> CollectionConfig | None:
    """The config of collection `name` if it exists (its encoder and dim apply to the build)."""
    store_file = Path(data_dir) / "collections" / check_name(name) / STORE_FILE
    if not store_file.exists():
        return None
    store = PointStore(store_file, dim=0)
    try:
        return CollectionConfig.from_stored(store.read_config())
    finally:
        store.close()

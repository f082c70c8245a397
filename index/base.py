"""The `VectorIndex` protocol every ANN backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from index.filter_model import Filter
from index.metrics import Metric


class IndexParams(BaseModel):
    """Build-time parameters of a backend; unknown keys are rejected, and so are values of
    another JSON type (`"M": "16"` or `true` is no 16 or 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryParams(BaseModel):
    """Per-request search knobs of a backend; unknown keys are rejected.

    `rescore` and `exact` are handled by the Collection for every backend: `rescore` fetches an
    oversampled shortlist and re-ranks it with the full-precision stored vectors (useful with
    PQ); `exact` scores every stored vector the filter keeps (Qdrant's `exact: true`).
    Strict types: `"rescore": "yes"` or `"ef": "64"` is refused, not taken as true and 64.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    rescore: bool = False
    exact: bool = False  # scan every vector (or every match) instead of asking the index

    def backend_knobs(self) -> dict[str, Any]:
        """The knobs the backend itself reads (unset ones left out)."""
        return self.model_dump(exclude_none=True, exclude={"rescore", "exact"})


@runtime_checkable
class VectorIndex(Protocol):
    """An ANN index over integer labels. Scores are "higher is closer"; missing results are -1."""

    name: ClassVar[str]
    Params: ClassVar[type[IndexParams]]
    Query: ClassVar[type[QueryParams]]
    # True when a search reads every stored vector (a flat scan) or leaves the process (a remote
    # engine): its cost grows with the collection, so the service never runs it on its event loop
    scans_all: ClassVar[bool]
    # Optional capabilities, declared here so callers use them without probing. A backend
    # subclasses this protocol to inherit the defaults. True: the backend keeps payloads and
    # evaluates filters itself (see FilteringIndex).
    filters_natively: ClassVar[bool] = False
    trains: ClassVar[bool] = False  # True: `train` fits the index to its data (IVF)

    def __init__(self, dim: int, metric: Metric, params: Any) -> None: ...

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add prepared vectors under new labels (labels are never reused)."""
        ...

    def remove(self, labels: np.ndarray) -> None:
        """Remove labels at once; their space is reclaimed by later adds."""
        ...

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, **params: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores), each (nq, k); `allowed` restricts results to those labels."""
        ...

    def labels(self) -> np.ndarray:
        """Every live label (used to reconcile a snapshot with the store)."""
        ...

    @property
    def tombstone_ratio(self) -> float:
        """Share of the index's storage held by deleted points not yet reclaimed."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None:
        """Write the index into directory `path`."""
        ...

    @classmethod
    def load(cls, path: Path, dim: int, metric: Metric, params: Any) -> VectorIndex:
        """Read an index written by `save`."""
        ...

    def train(self) -> None:
        """Fit the index to the vectors it holds now (trained kinds); others need nothing."""

    def drop(self) -> None:
        """Delete what the index keeps outside its directory (a remote collection); local
        indexes keep nothing there."""


@runtime_checkable
class FilteringIndex(VectorIndex, Protocol):
    """A backend that keeps payloads and evaluates filters itself (a remote engine: Milvus).

    The Collection sees `filters_natively = True` on the class, passes payloads to `add`, and
    hands `search` the parsed filter instead of computing allowed labels from the store.
    """

    filters_natively: ClassVar[bool]

    def add(  # type: ignore[override]
        self, labels: np.ndarray, vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None: ...

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        filter: Filter | None = None,
        **params: Any,
    ) -> tuple[np.ndarray, np.ndarray]: ...

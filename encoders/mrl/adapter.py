"""A linear Matryoshka map on top of a frozen encoder, saved as .npz with a JSON sidecar.

One format for the trained adapter and for the PCA-rotation baseline: `y = x @ matrix.T`, then
the usual truncate-and-renormalise. An orthogonal matrix leaves full-dimension cosines exactly as
the base encoder had them and only reorders where the information sits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoders.errors import InvalidDimension, InvalidInput

ADAPTER_FILE = "adapter.npz"  # inside DATA_DIR/models/<artifact>/


@dataclass(frozen=True)
class LinearAdapter:
    matrix: np.ndarray  # (d, d) float32
    kind: str  # "adapter" (trained) or "pca" (rotation baseline)
    base: str  # the frozen encoder it applies to
    nested_dims: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = self.matrix
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise InvalidInput(f"adapter matrix must be square (d, d), got {m.shape}", "matrix")
        if max(self.nested_dims, default=0) != m.shape[0]:
            raise InvalidInput(
                f"nested_dims {self.nested_dims} must end at the matrix size {m.shape[0]}",
                "nested_dims",
            )

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[0])

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Map (n, d) base vectors into the Matryoshka space (not yet normalised)."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InvalidInput(f"expected (n, {self.dim}) vectors, got {vectors.shape}", "vectors")
        return np.ascontiguousarray(vectors @ self.matrix.T, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """The JSON sidecar: what it is, its shape and how it was made."""
        return {
            "kind": self.kind,
            "base": self.base,
            "dim": self.dim,
            "nested_dims": list(self.nested_dims),
            **self.meta,
        }

    def save(self, path: Path) -> None:
        """Write `path` (.npz) and its sidecar `path.with_suffix('.json')`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, matrix=self.matrix.astype(np.float32))
        path.with_suffix(".json").write_text(json.dumps(self.describe(), indent=2))

    @classmethod
    def load(cls, path: Path) -> LinearAdapter:
        """Read an adapter written by `save`."""
        info = json.loads(path.with_suffix(".json").read_text())
        with np.load(path) as data:
            matrix = np.asarray(data["matrix"], np.float32)
        if matrix.shape != (info["dim"], info["dim"]):
            raise InvalidInput(f"{path}: matrix {matrix.shape} but sidecar dim {info['dim']}")
        meta = {k: v for k, v in info.items() if k not in ("kind", "base", "dim", "nested_dims")}
        return cls(matrix, info["kind"], info["base"], tuple(info["nested_dims"]), meta)


def pca_rotation(vectors: np.ndarray) -> np.ndarray:
    """(d, d) orthogonal matrix whose rows are the principal axes, largest variance first."""
    x = np.asarray(vectors, np.float64)
    cov = np.cov(x - x.mean(axis=0), rowvar=False)
    values, axes = np.linalg.eigh(cov)
    return np.ascontiguousarray(axes[:, np.argsort(values)[::-1]].T, dtype=np.float32)


def nested_dims_for(dim: int, dims: tuple[int, ...] | None) -> tuple[int, ...]:
    """Matryoshka dims for a d-dim base: the given ones, or d, d*2/3 (384→256), d/3, d/6, d/12."""
    if dims is None:
        dims = (dim, dim * 2 // 3, dim // 3, dim // 6, dim // 12)
    bad = [d for d in dims if not 0 < d <= dim]
    if bad:  # dropped silently, an adapter would not serve the dims its collections were made at
        raise InvalidDimension(f"--dims {bad[0]}: Matryoshka dims are 1 to {dim}", "--dims")
    return tuple(sorted({*dims, dim}, reverse=True))

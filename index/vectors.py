"""Validation of vectors coming from callers: shape and finiteness, with the offending field."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.errors import DimensionMismatch, NonFiniteVector


def as_matrix(rows: Sequence[Sequence[float]], dim: int, fields: Sequence[str]) -> np.ndarray:
    """Stack caller vectors into float32 (n, dim); raise naming the first bad one."""
    for row, field in zip(rows, fields, strict=True):
        if len(row) != dim:
            raise DimensionMismatch(f"expected {dim} values, got {len(row)}", field)
    with np.errstate(over="ignore"):  # overflow becomes inf and is reported just below
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    # float32 overflow counts too: 1e300 is finite in JSON but inf once stored.
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise NonFiniteVector("vector values must be finite float32 numbers", fields[bad])
    return matrix

"""Validation of vectors coming from callers: shape, finiteness and a norm whose scores stay
finite, with the offending field."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.errors import DimensionMismatch, NonFiniteVector

# past this norm a score can leave float32 (|q|·|x|, |q - x|² near 3.4e38) and answer as null
MAX_NORM = 1e18


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
    squares = np.einsum("ij,ij->i", matrix, matrix)  # in float32 past the bound: large or inf
    if len(squares) and squares.max() > MAX_NORM**2:
        bad = int(np.argmax(squares > MAX_NORM**2))
        norm = float(np.linalg.norm(matrix[bad].astype(np.float64)))
        message = f"vector norm {norm:.3g} is past {MAX_NORM:g}: its scores would overflow"
        raise NonFiniteVector(message, fields[bad])
    return matrix

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
    # float64 first: a value past float32's range stays finite here, and one sum of squares
    # checks finiteness and the norm bound together (NaN and inf fail `<=` as well)
    wide = np.asarray(rows, dtype=np.float64).reshape(len(rows), dim)
    squares = np.einsum("ij,ij->i", wide, wide)
    if len(squares) and not squares.max() <= MAX_NORM**2:
        _refuse(wide, squares, fields)
    return wide.astype(np.float32)


def _refuse(wide: np.ndarray, squares: np.ndarray, fields: Sequence[str]) -> None:
    """Raise for the first row that is not finite in float32 or whose norm is past the bound."""
    with np.errstate(over="ignore", invalid="ignore"):
        # float32 overflow counts too: 1e300 is finite in JSON but inf once stored.
        finite = np.isfinite(wide.astype(np.float32)).all(axis=1)
    bad = int(np.argmax(~finite | ~(squares <= MAX_NORM**2)))
    if not finite[bad]:
        raise NonFiniteVector("vector values must be finite float32 numbers", fields[bad])
    norm = float(np.linalg.norm(wide[bad]))
    message = f"vector norm {norm:.3g} is past {MAX_NORM:g}: its scores would overflow"
    raise NonFiniteVector(message, fields[bad])

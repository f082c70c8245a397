"""Synthetic vectors with a controlled intrinsic dimension."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import InvalidParameterError

Sampler = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]

COEFFICIENTS: dict[str, Sampler] = {
    "gaussian": lambda rng, shape: rng.standard_normal(shape),
    "uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, size=shape),
}


def random_basis(dim: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    """Return a (rank, dim) matrix of orthonormal rows spanning a random subspace (QR)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, rank)))
    return (q * np.sign(np.diag(r))).T  # sign fix makes the basis Haar-distributed


def subspace_vectors(
    n: int,
    dim: int,
    rank: int,
    seed: int = 0,
    noise: float = 0.0,
    *,
    coefficients: str = "gaussian",
) -> np.ndarray:
    """Return (n, dim) float32 points on a random ``rank``-dim linear subspace, plus noise."""
    for field, value in (("n", n), ("dim", dim), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(
                f"{field} must be a positive integer, got {value!r}", field=field
            )
    if rank > dim:
        raise InvalidParameterError(f"rank must be <= dim ({dim}), got {rank}", field="rank")
    if not noise >= 0:
        raise InvalidParameterError(f"noise must be >= 0, got {noise}", field="noise")
    if coefficients not in COEFFICIENTS:
        raise InvalidParameterError(
            f"unknown coefficients {coefficients!r}; allowed: {', '.join(COEFFICIENTS)}",
            field="coefficients",
        )
    rng = np.random.default_rng(seed)
    basis = random_basis(dim, rank, rng)
    x = COEFFICIENTS[coefficients](rng, (n, rank)) @ basis
    if noise > 0:
        x += noise * rng.standard_normal((n, dim))
    return np.asarray(x, dtype=np.float32)

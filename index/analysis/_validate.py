"""Input checks shared by the analysis modules; each raises an ``AnalysisError`` subclass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidParameterError, InvalidVectorsError, TooFewPointsError

METRICS: tuple[str, ...] = ("l2", "cosine", "ip")


def as_vectors(x: Any, name: str = "base", *, min_rows: int = 1) -> np.ndarray:
    """Return ``x`` as a finite, C-contiguous float32 matrix of shape (n, d)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorsError(f"{name} must be a numeric array: {exc}", field=name) from exc
    if arr.ndim != 2:
        raise InvalidVectorsError(
            f"{name} must be a 2-D array of shape (n, dim), got shape {arr.shape}", field=name
        )
    if arr.dtype.kind not in "fiu":
        raise InvalidVectorsError(f"{name} must hold numbers, got dtype {arr.dtype}", field=name)
    if arr.shape[1] < 1:
        raise InvalidVectorsError(f"{name} must have at least 1 column, got 0", field=name)
    if arr.shape[0] < min_rows:
        raise TooFewPointsError(
            f"{name} needs at least {min_rows} rows, got {arr.shape[0]}", field=name
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InvalidVectorsError(f"{name} holds NaN or infinite values", field=name)
    return arr


def check_k(k: Any, n: int, *, field: str = "k", exclude_self: bool = False) -> int:
    """Check that ``k`` is a positive int and ``n`` points give at least ``k`` neighbours."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidParameterError(f"{field} must be a positive integer, got {k!r}", field=field)
    need = int(k) + 1 if exclude_self else int(k)
    if n < need:
        why = " (each point's neighbours exclude itself)" if exclude_self else ""
        most = n - (need - int(k))  # the largest k these points allow; none when below 1
        advice = f"use {field} <= {most}" if most >= 1 else "add points"
        raise TooFewPointsError(
            f"{field}={k} needs at least {need} points{why}, got {n}; {advice}", field=field
        )
    return int(k)


def check_metric(metric: str) -> str:
    """Check that ``metric`` is one of ``METRICS``."""
    if metric not in METRICS:
        raise InvalidParameterError(
            f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}", field="metric"
        )
    return metric


def check_fraction(
    value: Any,
    field: str,
    *,
    low: float = 0.0,
    high: float = 1.0,
    include_low: bool = False,
    include_high: bool = False,
) -> float:
    """Check that ``value`` is a number in the interval from ``low`` to ``high``."""
    interval = f"{'[' if include_low else '('}{low}, {high}{']' if include_high else ')'}"
    ok_type = not isinstance(value, bool) and isinstance(value, (int, float, np.number))
    if not ok_type:
        raise InvalidParameterError(
            f"{field} must be a number in {interval}, got {value!r}", field=field
        )
    v = float(value)
    above = v >= low if include_low else v > low
    below = v <= high if include_high else v < high
    if not (above and below):
        raise InvalidParameterError(f"{field} must be in {interval}, got {value}", field=field)
    return v


def check_positive_ints(values: Sequence[Any], field: str) -> tuple[int, ...]:
    """Check that ``values`` is a non-empty sequence of positive integers."""
    out = tuple(values)
    if not out or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in out
    ):
        raise InvalidParameterError(
            f"{field} must be a non-empty sequence of positive integers, got {values!r}",
            field=field,
        )
    return tuple(int(v) for v in out)


def check_labels(labels: Any, n: int, field: str) -> np.ndarray:
    """Check that ``labels`` is a 1-D array with one entry per point."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InvalidParameterError(
            f"{field} must be a 1-D array of length {n} (one per vector), got shape {arr.shape}",
            field=field,
        )
    return arr


def check_seeds(seeds: Sequence[Any]) -> tuple[int, ...]:
    """Check that ``seeds`` is a non-empty sequence of distinct non-negative integers."""
    out = tuple(seeds)
    if (
        not out
        or len(set(out)) != len(out)
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in out)
    ):
        raise InvalidParameterError(
            f"seeds must be distinct non-negative integers, got {seeds!r}", field="seeds"
        )
    return tuple(int(s) for s in out)

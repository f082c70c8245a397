"""Caller vectors: stacked into float32 exactly, and refused naming the first bad row."""

import numpy as np
import pytest

from index.errors import DimensionMismatch, NonFiniteVector
from index.vectors import MAX_NORM, as_matrix


def test_rows_become_the_float32_matrix_numpy_would_make() -> None:
    rows = [[0.1, 2, -3.5], [1e-30, 1e17, 7]]
    got = as_matrix(rows, 3, ["a", "b"])
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, np.asarray(rows, np.float32))
    assert as_matrix([], 3, []).shape == (0, 3)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([1e39, 0, 0], "finite float32"),  # finite in JSON, inf once stored
        ([float("nan"), 0, 0], "finite float32"),
        ([float("-inf"), 0, 0], "finite float32"),
        ([3e38, 1, 1], "past"),  # finite float32, but its square overflows
        ([MAX_NORM, MAX_NORM, 0], "past"),
    ],
)
def test_the_first_bad_row_is_named(bad: list[float], message: str) -> None:
    rows = [[1.0, 2.0, 3.0], bad, [float("nan")] * 3]
    with pytest.raises(NonFiniteVector, match=message) as caught:
        as_matrix(rows, 3, ["p0", "p1", "p2"])
    assert caught.value.field == "p1"


def test_a_norm_at_the_bound_is_kept() -> None:
    assert as_matrix([[MAX_NORM, 0.0]], 2, ["p"])[0, 0] == np.float32(MAX_NORM)


def test_a_row_of_another_length_is_named() -> None:
    with pytest.raises(DimensionMismatch) as caught:
        as_matrix([[1.0, 2.0], [1.0]], 2, ["p0", "p1"])
    assert caught.value.field == "p1"

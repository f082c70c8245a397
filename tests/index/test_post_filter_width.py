"""The post-filter fetches enough candidates that a row comes up short about 1% of the time."""

from __future__ import annotations

import math

import pytest

from index.plans import post_filter_width


def _short(n: int, share: float, k: int) -> float:
    """P(fewer than k of n candidates pass), matches spread at random (exact binomial)."""
    return sum(math.comb(n, i) * share**i * (1 - share) ** (n - i) for i in range(k))


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.9, 1.0])
def test_rows_come_up_short_about_one_time_in_a_hundred(k: int, share: float) -> None:
    n = post_filter_width(k, share)
    assert n >= k
    assert _short(n, share, k) <= 0.015
    if k >= 10 and share < 1:  # and it is not much wider than it needs to be
        assert _short(int(n * 0.8), share, k) > 0.01

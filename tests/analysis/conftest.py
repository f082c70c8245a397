"""Shared small data sets for the analysis tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """Return (base, queries): 600 x 16 points around 6 centres, 40 queries near the base."""
    rng = np.random.default_rng(42)
    centres = rng.standard_normal((6, 16)) * 3
    base = centres[rng.integers(0, 6, 600)] + rng.standard_normal((600, 16))
    queries = base[rng.choice(600, 40, replace=False)] + 0.3 * rng.standard_normal((40, 16))
    return base.astype(np.float32), queries.astype(np.float32)

"""Validated search `params` are memoised per collection by value and type: a memo hit answers
as validation would, and invalid params are refused every time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import Catalog, CollectionConfig
from index.errors import IndexError_

DIM = 8


def test_memoised_params_answer_as_fresh_ones_and_bad_ones_stay_refused(tmp_path: Path) -> None:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM, index_type="hnsw"))
    rng = np.random.default_rng(0)
    col.upsert([f"p{i}" for i in range(300)], rng.normal(size=(300, DIM)), [{}] * 300)
    q = rng.normal(size=(3, DIM))
    first = [[h.id for h in row] for row in col.search(q, 5, params={"ef": 7})]
    again = [[h.id for h in row] for row in col.search(q, 5, params={"ef": 7})]
    assert again == first
    assert col._knobs({"ef": 7})[1] == {"ef": 7}
    assert col._knobs({"ef": 300})[1] == {"ef": 300}  # another value: another entry
    for bad in ({"ef": 0}, {"ef": "many"}, {"nprobe": 3}):
        for _ in range(2):  # refused again: a failure is never memoised
            with pytest.raises(IndexError_):
                col._knobs(bad)
    for i in range(100):  # the memo stays bounded
        col._knobs({"ef": 10 + i})
    assert len(col._knobs_seen) <= 64

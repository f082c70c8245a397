"""The in-memory vector table stays equal to a plain dict of label -> vector under writes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from index.vector_table import VectorTable

DIM = 3
ops = st.lists(
    st.tuples(st.booleans(), st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True)),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_table_matches_a_dict_under_adds_and_removes(steps: list[tuple[bool, list[int]]]) -> None:
    table, expected = VectorTable(DIM), {}
    for i, (add, labels) in enumerate(steps):
        batch = np.asarray(labels, np.int64)
        if add:
            vectors = np.full((len(labels), DIM), i, np.float32) + batch[:, None]
            table.add(batch, vectors)
            expected.update(zip(labels, vectors, strict=True))
        else:
            table.remove(batch)
            for label in labels:
                expected.pop(label, None)
        assert len(table) == len(expected)
        asked = np.arange(-1, 42, dtype=np.int64)[::-1]  # unknown labels are skipped, order kept
        got_labels, got = table.get(asked)
        assert got_labels.tolist() == [x for x in asked.tolist() if x in expected]
        for label, vector in zip(got_labels.tolist(), got, strict=True):
            assert np.array_equal(vector, expected[label])

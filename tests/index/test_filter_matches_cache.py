"""A filter's matches are cached between writes: every write, to any point, drops them, so a
repeated filtered search always answers as a fresh one (each plan: exact, in-ANN, post-filter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index import Catalog, CollectionConfig

DIM, N = 8, 6000
FILTERS = {  # shares of N: exact (few matches), exact (the float budget), post-filter
    "n == 3 (1%)": {"must": [{"key": "n", "match": {"value": 3}}]},
    "n < 3 (3%)": {"must": [{"key": "n", "range": {"lt": 3}}]},
    "n < 60 (60%)": {"must": [{"key": "n", "range": {"lt": 60}}]},
}
INSIDE = 2  # a value of n every filter keeps but the first, which keeps 3
# a cached 3% filter's bytes, roughly: its vectors, labels and bitmap
ENTRY_BYTES = 3 * N // 100 * (DIM * 4 + 8) + N


def indexed_collection(tmp_path: Path, rng: np.random.Generator) -> Any:
    """N random points with n = 0..99 in turn, under an integer payload index on n."""
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM))
    col.create_payload_index("n", "integer")
    col.upsert(
        [f"p{i}" for i in range(N)], rng.normal(size=(N, DIM)), [{"n": i % 100} for i in range(N)]
    )
    return col


@pytest.mark.parametrize("indexed", [True, False])
@pytest.mark.parametrize("name", list(FILTERS))
def test_repeated_filtered_searches_follow_writes(tmp_path: Path, name: str, indexed: bool) -> None:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM))
    if indexed:
        col.create_payload_index("n", "integer")
    rng = np.random.default_rng(0)
    col.upsert(
        [f"p{i}" for i in range(N)], rng.normal(size=(N, DIM)), [{"n": i % 100} for i in range(N)]
    )
    flt, q = FILTERS[name], rng.normal(size=(1, DIM))
    before = [h.id for h in col.search(q, 5, filter=flt)[0]]
    assert [h.id for h in col.search(q, 5, filter=flt)[0]] == before  # served from the cache
    inside = 3 if "==" in name else INSIDE
    col.upsert(["new"], q * 10, [{"n": inside}])  # the query's own direction: the best match
    assert [h.id for h in col.search(q, 5, filter=flt)[0]] == ["new"] + before[:4]
    col.upsert(["new"], q * 10, [{"n": 99}])  # now outside every filter
    assert [h.id for h in col.search(q, 5, filter=flt)[0]] == before
    col.delete([before[0]])
    assert [h.id for h in col.search(q, 5, filter=flt)[0]][:4] == before[1:]


def test_matches_cache_keeps_to_its_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # three filters whose exact plans keep their vectors: with room for about one, the older
    # entries go, the newest stays, and every answer equals the same search with nothing cached
    rng = np.random.default_rng(1)
    col = indexed_collection(tmp_path, rng)
    filters = [{"must": [{"key": "n", "range": {"gte": lo, "lt": lo + 3}}]} for lo in (0, 10, 20)]
    q = rng.normal(size=(1, DIM))
    fresh = []
    for flt in filters:
        fresh.append([h.id for h in col.search(q, 5, filter=flt)[0]])
        col._matches.clear()
    monkeypatch.setattr("index.planner.MATCHES_CACHE_BYTES", ENTRY_BYTES)
    for _ in range(2):
        for flt, expected in zip(filters, fresh, strict=True):
            assert [h.id for h in col.search(q, 5, filter=flt)[0]] == expected
            assert len(col._matches) <= 2
    newest = next(reversed(col._matches.values()))
    assert newest.nbytes > 0 and len(newest.labels) == 3 * N // 100


def test_concurrent_searches_over_many_filters_answer_as_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # eight readers over twenty filters while the cache holds about two: entries are evicted
    # under one another's feet, and every answer still equals the same search made alone
    import threading

    rng = np.random.default_rng(2)
    col = indexed_collection(tmp_path, rng)
    filters = [{"must": [{"key": "n", "range": {"gte": lo, "lt": lo + 3}}]} for lo in range(20)]
    filters += [
        {"must": [{"key": "n", "range": {"lt": 60 + lo}}]} for lo in range(5)
    ]  # post-filter
    queries = rng.normal(size=(6, DIM))
    cases = [(q, f) for q in range(len(queries)) for f in range(len(filters))]

    def search(case: tuple[int, int]) -> list[str]:
        q, f = case
        return [h.id for h in col.search(queries[q : q + 1], 5, filter=filters[f])[0]]

    alone = [search(case) for case in cases]
    monkeypatch.setattr("index.planner.MATCHES_CACHE_BYTES", 2 * ENTRY_BYTES)
    col._matches.clear()
    errors: list[Any] = []

    def reader(seed: int) -> None:
        try:
            for i in np.random.default_rng(seed).permutation(len(cases)).tolist():
                if search(cases[i]) != alone[i]:
                    errors.append(cases[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert 1 <= len(col._matches) <= 16

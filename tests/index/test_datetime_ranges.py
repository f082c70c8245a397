"""`range` with date-time bounds, Qdrant's DatetimeRange (Haystack sends one for every date
filter): string payload values that are date-times, compared as instants; it was refused."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from index.errors import InvalidFilter
from index.filter_sql import compile_filter
from index.filters import parse_filter
from index.store import PointStore

PAYLOADS = {
    "a": {"at": "2024-10-01T00:00:00Z"},
    "b": {"at": "2024-10-01T01:30:00+02:00"},  # 2024-09-30T23:30Z: before a
    "c": {"at": "2024-10-02"},
    "d": {"at": ["2023-01-01", "2025-06-15 12:00"]},  # an array: any element
    "e": {"at": "not a date"},
    "f": {"at": 1727740800},  # a number is no date-time
    "g": {"other": "2024-10-01"},
}
CASES = [
    ({"gte": "2024-10-01T00:00:00"}, {"a", "c", "d"}),  # no offset: UTC
    ({"lt": "2024-10-01T00:00:00Z"}, {"b", "d"}),
    ({"gt": "2024-09-30T23:00:00Z", "lte": "2024-10-01"}, {"a", "b"}),
    ({"gte": "2025-06-15T12:00:00Z", "lte": "2025-06-15T12:00:00Z"}, {"d"}),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> PointStore:
    store = PointStore(Path(tmp_path_factory.mktemp("dt")) / "store.sqlite3", dim=2)
    ids = list(PAYLOADS)
    store.upsert(ids, np.ones((len(ids), 2), np.float32), list(PAYLOADS.values()))
    return store


@pytest.mark.parametrize(("bounds", "expected"), CASES)
def test_a_datetime_range_holds_for_date_times_within_it(
    store: PointStore, bounds: dict, expected: set
) -> None:
    flt = parse_filter({"must": [{"key": "at", "range": bounds}]})
    labels = store.labels_matching(*compile_filter(flt))
    assert {p.id for p in store.by_labels(labels.tolist())} == expected


def test_a_bound_that_is_no_date_time_is_refused_naming_the_format() -> None:
    said = "invalid filter at must[0].range.gte: a bound is a number or an RFC 3339 date-time"
    with pytest.raises(InvalidFilter, match=re.escape(said)):
        parse_filter({"must": [{"key": "at", "range": {"gte": "yesterday"}}]})


def test_haystacks_date_filter_over_qdrant_routes(client: TestClient) -> None:
    """Haystack's `{"field": "meta.date", "operator": ">=", "value": "2024-10-01T00:00:00"}`
    reaches Qdrant's routes as this range: it was a 422."""
    client.put("/collections/dated", json={"vectors": {"size": 2, "distance": "Dot"}})
    points = [
        {"id": i, "vector": [1.0, 0.0], "payload": {"meta": p}}
        for i, p in enumerate(PAYLOADS.values())
    ]
    assert client.put("/collections/dated/points", json={"points": points}).status_code == 200
    since = {"key": "meta.at", "range": {"gte": "2024-10-01T00:00:00"}}
    answer = client.post("/collections/dated/points/count", json={"filter": {"must": [since]}})
    assert answer.status_code == 200 and answer.json()["result"]["count"] == 3


# (spelling, seconds since the epoch or None): what Qdrant's engine reads each as
SPELLINGS = [
    ("2024-10-01t00:00:00z", 1727740800.0),  # lower-case t and z: RFC 3339 allows them
    ("2024-10-01T00:00:00.5 +02:00", 1727733600.5),  # how Qdrant writes one back
    ("2024-10-01 00:00:00 UTC", 1727740800.0),
    ("2024-10-01T00:00:00.123456789+01", 1727737200.123456),
    ("2024-10-01T00:00:00+0130", 1727735400.0),
    ("2024-10-01T12:30", 1727785800.0),
    ("2024-10-01T00", None),  # ISO 8601 takes these; Qdrant does not
    ("2024-10-01T00:00Z", None),
    ("2024-10-01T00:00:00,5Z", None),
    ("2024-10-01T00:00:00.Z", None),
    ("2024-10-01_00:00", None),
    ("2024-02-30", None),
]


@pytest.mark.parametrize(("spelling", "seconds"), SPELLINGS)
def test_date_times_are_read_as_qdrant_reads_them(spelling: str, seconds: float | None) -> None:
    from index.instants import instant

    assert instant(spelling) == seconds
    bound = {"must": [{"key": "at", "range": {"gte": spelling}}]}
    if seconds is None:
        with pytest.raises(InvalidFilter, match="a bound is a number or an RFC 3339 date-time"):
            parse_filter(bound)
    else:
        parse_filter(bound)

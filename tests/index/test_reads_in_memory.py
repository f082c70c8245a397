"""`Collection.reads_in_memory` says when a search may run on the service's event loop: only
when it reads structures already built in memory and no writer holds or waits for the view."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from index import Catalog, CollectionConfig
from index.collection import Collection
from index.errors import InvalidFilter

DIM = 8
N_FILTER = {"must": [{"key": "n", "range": {"lt": 5}}]}
TAG_FILTER = {"must": [{"key": "tag", "match": {"value": "a"}}]}


def make(tmp_path: Path, index_type: str = "hnsw") -> Collection:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM, index_type=index_type))
    rng = np.random.default_rng(0)
    n = 50
    payloads = [{"n": i % 10, "tag": "ab"[i % 2]} for i in range(n)]
    col.upsert([f"p{i}" for i in range(n)], rng.normal(size=(n, DIM)), payloads)
    return col


def test_an_unfiltered_graph_search_reads_memory(tmp_path: Path) -> None:
    assert make(tmp_path).reads_in_memory()


def test_a_flat_scan_never_runs_inline(tmp_path: Path) -> None:
    assert not make(tmp_path, "flat").reads_in_memory()


def test_a_filter_reads_memory_only_once_indexed_and_the_table_is_built(tmp_path: Path) -> None:
    col = make(tmp_path)
    assert not col.reads_in_memory(N_FILTER)  # no payload index: the store would be scanned
    col.create_payload_index("n", "integer")
    assert not col.reads_in_memory(N_FILTER)  # the vector table is built by the first search
    col.search(np.ones((1, DIM)), 3, filter=N_FILTER)
    assert col.reads_in_memory(N_FILTER)
    assert not col.reads_in_memory(TAG_FILTER)  # `tag` has no payload index


def test_a_funnel_reads_memory_once_built(tmp_path: Path) -> None:
    col = make(tmp_path)
    funnel = {"dims": [4], "shortlist": 20}
    assert not col.reads_in_memory(funnel=funnel)
    col.search(np.ones((1, DIM)), 3, funnel=funnel)
    assert col.reads_in_memory(funnel=funnel)
    assert not col.reads_in_memory(funnel={**funnel, "tier": "flat"})  # scans every prefix
    assert not col.reads_in_memory(N_FILTER, funnel)  # a filtered funnel scans flat


def test_a_bad_filter_is_refused_before_any_search(tmp_path: Path) -> None:
    with pytest.raises(InvalidFilter):
        make(tmp_path).reads_in_memory({"must": [{"key": "n", "range": {}}]})


def test_not_while_a_writer_holds_or_waits_for_the_view(tmp_path: Path) -> None:
    col = make(tmp_path)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with col._rw.write():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        assert not col.reads_in_memory()
    finally:
        release.set()
        thread.join()
    assert col.reads_in_memory()

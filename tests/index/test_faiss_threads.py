"""faiss's OpenMP thread count belongs to each search's own thread, and concurrent searches of
different sizes answer exactly what they answer alone."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from index import METRICS, index_class
from index.analysis.knn import exact_knn
from index.backends.common import SINGLE_THREAD_BELOW, faiss_threads_for

DIM, N, WIDE = 24, 2000, 4
PARAMS = {"flat": {}, "faiss-hnsw": {"ef": 64}, "ivf": {"nlist": 16, "nprobe": 2}}


def _in_thread(fn: Callable[[], object]) -> object:
    """Run `fn` in a new thread (its own OpenMP settings) and return what it returned."""
    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join()
    return box[0]


def test_omp_thread_count_is_per_thread() -> None:
    """The premise of `faiss_threads_for`: a count set in one thread is not seen by another."""
    ready, done = threading.Event(), threading.Event()

    def setter() -> int:
        faiss.omp_set_num_threads(1)
        ready.set()
        done.wait(10)
        return faiss.omp_get_max_threads()

    def reader() -> int:
        faiss.omp_set_num_threads(WIDE)
        ready.wait(10)
        seen = faiss.omp_get_max_threads()
        done.set()
        return seen

    with ThreadPoolExecutor(2) as pool:
        own, other = pool.submit(setter), pool.submit(reader)
        assert (own.result(), other.result()) == (1, WIDE)


def test_small_search_is_single_threaded_whatever_other_threads_do() -> None:
    """Two overlapping small searches in two threads each run on one thread, and each thread
    gets its own count back when its search ends, whichever ends first."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def a() -> None:
        faiss.omp_set_num_threads(WIDE)
        with faiss_threads_for(1):
            seen["a inside"] = faiss.omp_get_max_threads()
            a_in.set()
            b_in.wait(10)
        seen["a after"] = faiss.omp_get_max_threads()
        a_out.set()

    def b() -> None:
        faiss.omp_set_num_threads(WIDE)
        a_in.wait(10)
        with faiss_threads_for(1):
            seen["b inside"] = faiss.omp_get_max_threads()
            b_in.set()
            a_out.wait(10)
            seen["b inside, a gone"] = faiss.omp_get_max_threads()
        seen["b after"] = faiss.omp_get_max_threads()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {
        "a inside": 1,
        "b inside": 1,
        "b inside, a gone": 1,
        "a after": WIDE,
        "b after": WIDE,
    }


def test_small_search_leaves_other_threads_count_alone() -> None:
    inside, read = threading.Event(), threading.Event()

    def searching() -> None:
        with faiss_threads_for(1):
            inside.set()
            read.wait(10)

    def other() -> int:
        faiss.omp_set_num_threads(WIDE)
        inside.wait(10)
        count = faiss.omp_get_max_threads()
        read.set()
        return count

    t = threading.Thread(target=searching)
    t.start()
    assert _in_thread(other) == WIDE
    t.join()


def test_batch_search_keeps_its_threads_count() -> None:
    def batch() -> int:
        faiss.omp_set_num_threads(WIDE)
        with faiss_threads_for(SINGLE_THREAD_BELOW):
            return int(faiss.omp_get_max_threads())

    assert _in_thread(batch) == WIDE


def _build(name: str) -> object:
    cls = index_class(name)
    params = cls.Params.model_validate(PARAMS[name], context={"dim": DIM})
    index = cls(DIM, METRICS["cosine"], params)
    base = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
    index.add(np.arange(N, dtype=np.int64), METRICS["cosine"].prepare(base))
    return index


@pytest.mark.parametrize("name", list(PARAMS))
def test_concurrent_searches_of_mixed_sizes_equal_each_alone(name: str) -> None:
    index = _build(name)
    rng = np.random.default_rng(1)
    sizes = [1, 1, 2, 5, SINGLE_THREAD_BELOW, 40]
    queries = [
        METRICS["cosine"].prepare(rng.normal(size=(n, DIM)).astype(np.float32)) for n in sizes
    ]
    alone = [index.search(q, 10) for q in queries]  # type: ignore[attr-defined]
    base = rng.normal(size=(300, DIM)).astype(np.float32)
    knn_alone = exact_knn(base, base[:20], 5, threads=1)

    order = [i % (len(queries) + 1) for i in range(120)]
    random.Random(5).shuffle(order)

    def run(i: int) -> bool:
        if i == len(queries):  # an analysis with its own thread count, among the searches
            got = exact_knn(base, base[:20], 5, threads=1)
            return all(np.array_equal(g, w) for g, w in zip(got, knn_alone, strict=True))
        labels, scores = index.search(queries[i], 10)  # type: ignore[attr-defined]
        return np.array_equal(labels, alone[i][0]) and np.allclose(scores, alone[i][1], atol=1e-6)

    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(run, order))
    assert all(same), f"{same.count(False)} of {len(same)} answers differ from the same call alone"

"""Pieces shared by backends: live-label bookkeeping and faiss helpers."""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.metrics import Metric, l2_score

LABELS_FILE = "live_labels.npy"


class LiveLabels:
    """The set of labels an index currently answers with, saved beside the index file."""

    def __init__(self, labels: np.ndarray | None = None) -> None:
        self._live: set[int] = set() if labels is None else set(labels.tolist())

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, label: int) -> bool:
        return label in self._live

    def add(self, labels: np.ndarray) -> None:
        self._live.update(labels.tolist())

    def discard(self, labels: np.ndarray) -> np.ndarray:
        """Forget labels; returns those that were live."""
        present = [x for x in labels.tolist() if x in self._live]
        self._live.difference_update(present)
        return np.array(present, dtype=np.int64)

    def array(self) -> np.ndarray:
        return np.fromiter(self._live, dtype=np.int64, count=len(self._live))

    def save(self, path: Path) -> None:
        np.save(path / LABELS_FILE, self.array())

    @classmethod
    def load(cls, path: Path) -> LiveLabels:
        return cls(np.load(path / LABELS_FILE))


# Below this many queries faiss runs on one OpenMP thread: it parallelises over queries (and the
# id map over results), and for a single query waking threads on a busy 2-core machine cost more
# than the search itself (measured 85 vs 5,674 QPS for faiss-hnsw through IndexIDMap2).
SINGLE_THREAD_BELOW = 8


@contextmanager
def faiss_threads_for(nq: int) -> Iterator[None]:
    """Run the block on one faiss thread when `nq` is small; only the calling thread is set."""
    # OpenMP's thread count (nthreads-var) belongs to the thread that sets it, so a search sets
    # its own thread's count and puts it back: concurrent searches of other sizes and analyses
    # with their own count are untouched, and a pooled worker takes nothing to its next call.
    if nq >= SINGLE_THREAD_BELOW:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def widened(knob: int, total: int, allowed: np.ndarray | None, cap: int) -> int:
    """Scale a beam (ef) or probe count by 1/selectivity: a filter that keeps 10% of the points
    needs about 10x the candidates to keep recall (capped)."""
    if allowed is None or not len(allowed):
        return knob
    return min(cap, max(knob, int(knob * total / len(allowed))))


def faiss_metric(metric: Metric) -> int:
    return faiss.METRIC_INNER_PRODUCT if metric.kind == "ip" else faiss.METRIC_L2


def faiss_scores(metric: Metric, distances: np.ndarray) -> np.ndarray:
    """faiss returns inner products (higher closer) or squared L2 (lower closer)."""
    scores = distances if metric.kind == "ip" else l2_score(distances)
    return np.asarray(scores, dtype=np.float32)


def empty_result(nq: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((nq, 0), np.int64), np.empty((nq, 0), np.float32)


def id_selector(allowed: np.ndarray | None) -> object | None:
    """A faiss selector keeping `allowed` labels (an exhaustive scan, such as IVF's lists: a
    graph's beam gets stuck behind what a selector rules out, see FaissHnswIndex.search)."""
    if allowed is None:
        return None
    return faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))


def sorted_labels(labels: np.ndarray) -> np.ndarray:
    """`labels` sorted (as `member` needs), without a sort when they already are."""
    labels = np.asarray(labels, np.int64)
    return labels if np.all(labels[1:] >= labels[:-1]) else np.sort(labels)


def write_faiss_index(index: Any, file: Path) -> None:
    """faiss.write_index, its failed write (a full disk, a file-size limit) an OSError like any
    other the data directory refuses (503 `storage_unavailable`, not a 500)."""
    try:
        faiss.write_index(index, str(file))
    except RuntimeError as exc:
        raise OSError(errno.EIO, f"writing {file.name} failed: {exc}") from None


HNSW_HEADER = 96  # hnswlib's saveIndex header: 6 size_t, 2 ints, 4 size_t and a double


def check_hnsw_file(file: Path) -> None:
    """hnswlib's save_index ignores write errors: a file shorter than its own header says
    (count x (element + its link-list size)) was cut short; raise as the disk's refusal."""
    size = file.stat().st_size
    with file.open("rb") as f:
        head = f.read(HNSW_HEADER)
    if len(head) == HNSW_HEADER:
        count, per_element = struct.unpack_from("<QQ", head, 16)
        if size >= HNSW_HEADER + count * (per_element + 4):
            return
    raise OSError(errno.EIO, f"writing {file.name} failed: it was cut short at {size} bytes")

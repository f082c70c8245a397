"""Sorted label sets and value-sorted numbers with cheap writes, and set operations on sorted
label arrays: the structures behind the payload index (index.payload_index)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_DELTA_MIN = 4096  # pending number writes beyond this fold into the sorted base
EMPTY = np.empty(0, np.int64)
EMPTY.setflags(write=False)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def to_bitmap(labels: np.ndarray, size: int) -> np.ndarray:
    """Packed bitmap of `size` bits, label i at bit (i & 7) of byte i >> 3, as faiss reads it.

    Hand it to faiss as `faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))`: faiss's
    first argument is the bitmap's length in bytes, and the array must outlive the selector.
    """
    ids = np.asarray(labels, np.int64).ravel()
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise ValueError(f"labels must lie in [0, {size})")
    bits = np.zeros(size, np.bool_)
    bits[ids] = True
    return np.packbits(bits, bitorder="little")


class LabelSet:
    """Sorted unique labels; writes go to a small delta merged on the next read."""

    __slots__ = ("_sorted", "_added", "_removed")

    def __init__(self) -> None:
        self._sorted = EMPTY
        self._added: set[int] = set()
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return self._sorted.size + len(self._added) - len(self._removed)

    def add(self, label: int) -> None:
        # callers add only absent labels and discard only present ones
        if label in self._removed:
            self._removed.remove(label)
        else:
            self._added.add(label)
            self._bound()

    def update(self, labels: list[int]) -> None:
        """Add many absent labels at once: one sorted merge instead of a delta entry each."""
        new = np.array(labels, np.int64)
        new.sort()
        base = self.array()
        self._sorted = np.insert(base, np.searchsorted(base, new), new)
        self._sorted.setflags(write=False)

    def discard(self, label: int) -> None:
        if label in self._added:
            self._added.remove(label)
        else:
            self._removed.add(label)
            self._bound()

    def _bound(self) -> None:
        # merge once the delta passes a quarter of the array: O(1) amortised, and a posting that
        # is never read does not sit in Python sets
        if len(self._added) + len(self._removed) > max(64, self._sorted.size // 4):
            self.array()

    def array(self) -> np.ndarray:
        if self._removed:
            gone = sorted_array(self._removed)
            self._sorted = np.delete(self._sorted, np.searchsorted(self._sorted, gone))
            self._removed.clear()
        if self._added:
            new = sorted_array(self._added)
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
            self._added.clear()
        self._sorted.setflags(write=False)
        return self._sorted


class Numbers:
    """(value, label) pairs sorted by value, as a large base plus a small sorted delta.

    Writes touch only the delta; a read after a write re-sorts the delta alone (at most
    _DELTA_MIN points), and the O(N) fold into the base comes once per _DELTA_MIN writes.
    """

    __slots__ = ("_dtype", "_values", "_labels", "_added", "_removed", "_delta", "_dead")

    def __init__(self, dtype: type) -> None:
        self._dtype = dtype
        self._values = np.empty(0, dtype)
        self._labels = EMPTY
        self._added: dict[int, list[Any]] = {}  # label -> its values, not yet in the base
        self._removed: set[int] = set()  # labels whose base entries are dead
        self._delta: tuple[np.ndarray, np.ndarray] | None = None
        self._dead: np.ndarray | None = None

    def add(self, label: int, values: list[Any]) -> None:
        self._added[label] = values
        self._delta = None

    def remove(self, label: int) -> None:
        if self._added.pop(label, None) is None:
            self._removed.add(label)
            self._dead = None
        else:
            self._delta = None

    def settle(self) -> None:
        """Fold the pending writes into the sorted base once they pass _DELTA_MIN: a point
        pending costs a dict entry and a list, a folded one two array slots."""
        if len(self._added) + len(self._removed) > _DELTA_MIN:
            self._fold()

    def between(self, bounds: list[tuple[int | float | None, bool, bool]]) -> list[np.ndarray]:
        """Labels (unsorted, repeated per value) of values within (bound, strict, lower) cuts."""
        self.settle()
        hits = []
        delta_values, delta_labels = self._sorted_delta()
        for values, labels, in_base in (
            (self._values, self._labels, True),
            (delta_values, delta_labels, False),
        ):
            lo, hi = 0, values.size
            for bound, strict, lower in bounds:
                if bound is not None:
                    cut = first_above(values, bound, strict)
                    lo, hi = (max(lo, cut), hi) if lower else (lo, min(hi, cut))
            if lo >= hi:
                continue
            part = labels[lo:hi]
            if in_base and self._removed:
                if self._dead is None:
                    self._dead = sorted_array(self._removed)
                part = part[~contains(self._dead, part)]
            hits.append(part)
        return hits

    def _sorted_delta(self) -> tuple[np.ndarray, np.ndarray]:
        if self._delta is None:
            values = np.array([v for vs in self._added.values() for v in vs], self._dtype)
            counts = [len(vs) for vs in self._added.values()]
            labels = np.repeat(np.fromiter(self._added, np.int64, len(self._added)), counts)
            order = np.argsort(values, kind="stable")
            self._delta = values[order], labels[order]
        return self._delta

    def _fold(self) -> None:
        values, labels = self._sorted_delta()
        if self._removed:
            keep = ~np.isin(self._labels, sorted_array(self._removed))
            self._values, self._labels = self._values[keep], self._labels[keep]
        at = np.searchsorted(self._values, values)
        self._values = np.insert(self._values, at, values)
        self._labels = np.insert(self._labels, at, labels)
        self._added, self._removed = {}, set()
        self._delta, self._dead = None, None


def first_above(values: np.ndarray, bound: int | float, strict: bool) -> int:
    """Index of the first sorted value > bound (strict) or >= bound, compared exactly."""
    if values.dtype == np.int64:
        if isinstance(bound, float):
            if math.isinf(bound):
                return 0 if bound < 0 else values.size
            start = math.floor(bound) + 1 if strict else math.ceil(bound)
        else:
            start = bound + 1 if strict else bound
        if start > INT64_MAX:
            return values.size
        return int(np.searchsorted(values, max(start, INT64_MIN), "left"))
    if isinstance(bound, int):
        # an integer past float precision: no float lies strictly between it and its rounding
        rounded = as_float(bound)
        if rounded != bound:
            side = "left" if rounded > bound else "right"
            return int(np.searchsorted(values, rounded, side))
        bound = rounded
    return int(np.searchsorted(values, bound, "right" if strict else "left"))


def sorted_array(labels: set[int]) -> np.ndarray:
    out = np.fromiter(labels, np.int64, len(labels))
    out.sort()
    return out


def sorted_unique(labels: np.ndarray, max_label: int) -> np.ndarray:
    if labels.size * 16 < max_label:
        return np.unique(labels)
    seen = np.zeros(max_label + 1, np.bool_)
    seen[labels] = True
    return np.flatnonzero(seen)


def contains(sorted_: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask over x: which elements occur in `sorted_`, by binary search or a dense scratch mask."""
    if not sorted_.size or not x.size:
        return np.zeros(x.size, np.bool_)
    span = max(int(sorted_[-1]), int(x.max())) + 1
    if min(sorted_.size, x.size) * 8 < max(sorted_.size, x.size) or span > 4 * (
        sorted_.size + x.size
    ):
        at = np.minimum(np.searchsorted(sorted_, x), sorted_.size - 1)
        return sorted_[at] == x
    # both sides large and labels dense: a scatter and a gather beat O(n log n) searching
    seen = np.zeros(span, np.bool_)
    seen[sorted_] = True
    return seen[x]


def narrow(
    found: np.ndarray, within: bool, part: np.ndarray, inside: bool, live: np.ndarray
) -> tuple[np.ndarray, bool]:
    """AND a part into the labels found so far; `live` itself stands for "no constraint yet"."""
    if found is live:
        return part, inside
    return intersect(found, part), within or inside


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    small, big = (a, b) if a.size <= b.size else (b, a)
    return small[contains(big, small)]


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not a.size or not b.size:
        return a
    return a[~contains(b, a)]


def union(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if p.size]
    if len(parts) <= 1:
        return parts[0] if parts else EMPTY
    merged = np.concatenate(parts)
    merged.sort(kind="stable")  # runs of sorted input: timsort merges them in linear time
    keep = np.empty(merged.size, np.bool_)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def as_float(value: int | float) -> float:
    """`value` as a float; an integer past the float range becomes an infinity."""
    try:
        return float(value)
    except OverflowError:  # an integer past the float range reads as infinity
        return math.inf if value > 0 else -math.inf

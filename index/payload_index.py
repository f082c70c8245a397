"""In-memory payload indexes over declared fields, so filters stop scanning every payload.

As Qdrant's field indexes (lib/segment/src/index/field_index/): per field, each keyword, integer
and bool value maps to the labels holding it, and numbers sit in value-sorted arrays for ranges.
Answers equal the SQLite evaluator of index/filters.py exactly, JSON types included: an integer
never matches 1.0 or true, a bool never matches 1, and a key holding an array matches when any
element does. Only the schema is persisted (`describe()`); contents are rebuilt from the payloads
when a collection opens.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from index.errors import InvalidCollectionConfig
from index.filters import FieldCondition, Filter, Range

FIELD_TYPES = ("keyword", "integer", "float", "bool")
_MATCH_TYPES = frozenset({"keyword", "integer", "bool"})
_RANGE_TYPES = frozenset({"integer", "float"})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Added to a label's distinct-value count when it holds an element no `except` list can name
# (a float, a null item, an array or an object), so that label always satisfies `except`.
_UNNAMEABLE = 1 << 40
_INTS, _FLOATS, _UNNAMED, _MANY = 1, 2, 4, 8  # flag bits of a field's row for one label
_DELTA_MIN = 4096  # pending number writes beyond this fold into the sorted base
_EMPTY = np.empty(0, np.int64)
_EMPTY.setflags(write=False)

Tag = tuple[str, Any]


class PayloadIndex:
    """Field indexes over declared payload keys, answering covered filters as sorted labels."""

    def __init__(self, fields: Mapping[str, str] | None = None) -> None:
        self._fields: dict[str, _Field] = {}
        self._max_label = -1
        # Reads merge pending writes into cached arrays, so they mutate too: one short lock.
        self._lock = threading.Lock()
        for key, type_ in (fields or {}).items():
            self._fields[key] = _Field(key, type_)

    @property
    def fields(self) -> dict[str, str]:
        """Declared fields: dotted key -> type."""
        return {key: f.type for key, f in self._fields.items()}

    def describe(self) -> dict[str, str]:
        """The schema to persist (the contents are rebuilt from payloads at open)."""
        return self.fields

    def add_field(
        self, key: str, type_: str, labels: np.ndarray, payloads: Sequence[Mapping[str, Any]]
    ) -> None:
        """Declare (or re-type) a field and index the given existing points (all live ones)."""
        field = _Field(key, type_)
        ids = _label_list(labels, payloads)
        with self._lock:  # held throughout, so no write lands between the scan and the swap
            for label, payload in zip(ids, payloads, strict=True):
                field.add(label, payload)
            self._fields[key] = field
            self._max_label = max(self._max_label, max(ids, default=-1))

    def drop_field(self, key: str) -> None:
        """Forget a declared field (no-op when it is not declared)."""
        with self._lock:
            self._fields.pop(key, None)

    def add(self, labels: np.ndarray, payloads: Sequence[Mapping[str, Any]]) -> None:
        """Index new points; a label already indexed is replaced."""
        ids = _label_list(labels, payloads)
        with self._lock:
            for field in self._fields.values():
                for label, payload in zip(ids, payloads, strict=True):
                    field.remove(label)
                    field.add(label, payload)
            self._max_label = max(self._max_label, max(ids, default=-1))

    def remove(self, labels: np.ndarray) -> None:
        """Drop points (deleted or replaced); unknown labels are ignored."""
        ids = np.asarray(labels, np.int64).ravel().tolist()
        with self._lock:
            for field in self._fields.values():
                for label in ids:
                    field.remove(label)

    def covers(self, flt: Filter) -> bool:
        """Whether every condition, nested included, is on a field whose type answers it."""
        return all(self._covers(cond) for cond in _conditions(flt))

    def matching(self, flt: Filter, universe: np.ndarray) -> np.ndarray:
        """Sorted unique int64 labels among `universe` (the live labels) satisfying `flt`.

        A filter with no condition returns the universe itself (sorted when it was not).
        """
        if not self.covers(flt):
            raise ValueError("the filter has conditions no declared payload index answers")
        live = np.asarray(universe, np.int64).ravel()
        if live.size > 1 and not bool(np.all(live[1:] > live[:-1])):
            live = np.unique(live)
        with self._lock:
            found, within = self._filter(flt, live)
        return found if within else _intersect(found, live)

    def _covers(self, cond: FieldCondition) -> bool:
        field = self._fields.get(cond.key)
        if field is None:
            return False
        return field.type in (_RANGE_TYPES if cond.range is not None else _MATCH_TYPES)

    def _filter(self, flt: Filter, live: np.ndarray) -> tuple[np.ndarray, bool]:
        """Labels satisfying `flt`, and whether they are known to lie within `live` already."""
        # Mirrors compile_filter: an empty or absent clause is skipped; nothing at all is all.
        found, within = live, True
        for item in flt.must or ():
            found, within = _narrow(found, within, *self._item(item, live), live)
        if flt.should:
            parts = [self._item(item, live) for item in flt.should]
            union = _union([p for p, _ in parts]), all(w for _, w in parts)
            found, within = _narrow(found, within, *union, live)
        if flt.must_not:
            found = _difference(found, _union([self._item(i, live)[0] for i in flt.must_not]))
        return found, within

    def _item(self, item: FieldCondition | Filter, live: np.ndarray) -> tuple[np.ndarray, bool]:
        if isinstance(item, Filter):
            return self._filter(item, live)
        return self._condition(item), False

    def _condition(self, item: FieldCondition) -> np.ndarray:
        field = self._fields[item.key]
        if item.range is not None:
            return field.range(item.range, self._max_label)
        match = item.match
        assert match is not None
        if match.value is not None:
            return field.posting(_tag(match.value))
        if match.any is not None:
            return _union([field.posting(_tag(v)) for v in set(match.any)])
        assert match.except_ is not None
        return field.excluding({_tag(v) for v in match.except_})


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


class _Field:
    """One declared field: value postings for matches, sorted numbers for ranges."""

    def __init__(self, key: str, type_: str) -> None:
        self.type = _check_field(key, type_)
        self._parts = key.split(".")
        self._matchable = type_ in _MATCH_TYPES
        self._rangeable = type_ in _RANGE_TYPES
        self._postings: dict[Tag, _LabelSet] = {}
        self._tags: dict[Tag, Tag] = {}  # one shared tag object per value, however many points
        self._has_key = _LabelSet()
        self._ints = _Numbers(np.int64)
        self._floats = _Numbers(np.float64)
        # label -> (its tags: one tag, or a tuple of them under _MANY; flag bits); kept small,
        # as there is one per point and field
        self._rows: dict[int, tuple[Any, int]] = {}

    def add(self, label: int, payload: Mapping[str, Any]) -> None:
        elements = _elements(payload, self._parts)
        if not elements:  # absent, or an empty array/object: json_each yields no row
            return
        tags: set[Tag] = set()
        ints: list[int] = []
        floats: list[float] = []
        unnameable = False
        for element in elements:
            tag = _tag(element)
            if tag is None:
                unnameable = True
            else:
                tags.add(tag)
            if isinstance(element, bool):
                continue
            if isinstance(element, int):
                # SQLite holds an integer past 64 bits as a real; compare it as one
                (ints if _INT64_MIN <= element <= _INT64_MAX else floats).append(element)
            elif isinstance(element, float):
                floats.append(element)
        kept = [self._tags.setdefault(t, t) for t in tags] if self._matchable else []
        for tag in kept:
            self._postings.setdefault(tag, _LabelSet()).add(label)
        self._has_key.add(label)
        flags = _UNNAMED * unnameable
        if self._rangeable and ints:
            self._ints.add(label, ints)
            flags |= _INTS
        if self._rangeable and floats:
            self._floats.add(label, [_as_float(x) for x in floats])
            flags |= _FLOATS
        if len(kept) == 1:
            self._rows[label] = (kept[0], flags)
        else:
            self._rows[label] = (tuple(kept), flags | _MANY)

    def remove(self, label: int) -> None:
        row = self._rows.pop(label, None)
        if row is None:
            return
        tags, flags = row
        for tag in tags if flags & _MANY else (tags,):
            posting = self._postings[tag]
            posting.discard(label)
            if not len(posting):
                del self._postings[tag], self._tags[tag]
        self._has_key.discard(label)
        if flags & _INTS:
            self._ints.remove(label)
        if flags & _FLOATS:
            self._floats.remove(label)

    def _distinct(self, label: int) -> int:
        """Distinct named elements of a label, plus _UNNAMEABLE if it holds an unnamed one."""
        tags, flags = self._rows[label]
        count = len(tags) if flags & _MANY else 1
        return count + _UNNAMEABLE * bool(flags & _UNNAMED)

    def posting(self, tag: Tag) -> np.ndarray:
        posting = self._postings.get(tag)
        return _EMPTY if posting is None else posting.array()

    def excluding(self, tags: set[Tag]) -> np.ndarray:
        # `except` holds when the key has an element outside the list: drop the labels whose
        # every distinct element is listed (each listed posting counts one distinct element).
        has_key = self._has_key.array()
        listed = [self._postings[t].array() for t in tags if t in self._postings]
        if not listed:
            return has_key
        labels, counts = np.unique(np.concatenate(listed), return_counts=True)
        distinct = np.fromiter(map(self._distinct, labels.tolist()), np.int64, count=labels.size)
        return _difference(has_key, labels[counts == distinct])

    def range(self, rng: Range, max_label: int) -> np.ndarray:
        bounds = [(rng.gt, True, True), (rng.gte, False, True)]
        bounds += [(rng.lt, False, False), (rng.lte, True, False)]
        if any(isinstance(b, float) and math.isnan(b) for b, _, _ in bounds):
            return _EMPTY  # SQLite binds NaN as NULL, and no comparison with NULL holds
        hits = self._ints.between(bounds) + self._floats.between(bounds)
        if not hits:
            return _EMPTY
        return _sorted_unique(np.concatenate(hits), max_label)


class _LabelSet:
    """Sorted unique labels; writes go to a small delta merged on the next read."""

    __slots__ = ("_sorted", "_added", "_removed")

    def __init__(self) -> None:
        self._sorted = _EMPTY
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
            gone = _sorted_array(self._removed)
            self._sorted = np.delete(self._sorted, np.searchsorted(self._sorted, gone))
            self._removed.clear()
        if self._added:
            new = _sorted_array(self._added)
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
            self._added.clear()
        self._sorted.setflags(write=False)
        return self._sorted


class _Numbers:
    """(value, label) pairs sorted by value, as a large base plus a small sorted delta.

    Writes touch only the delta; a read after a write re-sorts the delta alone (at most
    _DELTA_MIN points), and the O(N) fold into the base comes once per _DELTA_MIN writes.
    """

    __slots__ = ("_dtype", "_values", "_labels", "_added", "_removed", "_delta", "_dead")

    def __init__(self, dtype: type) -> None:
        self._dtype = dtype
        self._values = np.empty(0, dtype)
        self._labels = _EMPTY
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

    def between(self, bounds: list[tuple[int | float | None, bool, bool]]) -> list[np.ndarray]:
        """Labels (unsorted, repeated per value) of values within (bound, strict, lower) cuts."""
        if len(self._added) + len(self._removed) > _DELTA_MIN:
            self._fold()
        hits = []
        delta_values, delta_labels = self._sorted_delta()
        for values, labels, in_base in (
            (self._values, self._labels, True),
            (delta_values, delta_labels, False),
        ):
            lo, hi = 0, values.size
            for bound, strict, lower in bounds:
                if bound is not None:
                    cut = _first_above(values, bound, strict)
                    lo, hi = (max(lo, cut), hi) if lower else (lo, min(hi, cut))
            if lo >= hi:
                continue
            part = labels[lo:hi]
            if in_base and self._removed:
                if self._dead is None:
                    self._dead = _sorted_array(self._removed)
                part = part[~_contains(self._dead, part)]
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
            keep = ~np.isin(self._labels, _sorted_array(self._removed))
            self._values, self._labels = self._values[keep], self._labels[keep]
        at = np.searchsorted(self._values, values)
        self._values = np.insert(self._values, at, values)
        self._labels = np.insert(self._labels, at, labels)
        self._added, self._removed = {}, set()
        self._delta, self._dead = None, None


def _check_field(key: str, type_: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidCollectionConfig("a payload index key must be a non-empty string", "key")
    if type_ not in FIELD_TYPES:
        message = f"payload index type must be one of {', '.join(FIELD_TYPES)}, got {type_!r}"
        raise InvalidCollectionConfig(message, "type")
    return type_


def _label_list(labels: np.ndarray, payloads: Sequence[Mapping[str, Any]]) -> list[int]:
    ids = np.asarray(labels, np.int64).ravel().tolist()
    if len(ids) != len(payloads):
        raise ValueError(f"{len(ids)} labels but {len(payloads)} payloads")
    return ids


def _conditions(flt: Filter) -> Iterable[FieldCondition]:
    for clause in (flt.must, flt.should, flt.must_not):
        for item in clause or ():
            if isinstance(item, Filter):
                yield from _conditions(item)
            else:
                yield item


def _elements(payload: Any, parts: list[str]) -> list[Any] | None:
    """The elements at a dotted path, as index/filters.py sees them; None when absent."""
    value = payload
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, list | tuple):
        return list(value)  # an array's items, nulls and nested values included
    if value is None:
        return None  # a null value counts as absent
    # an object is one element equal to nothing (no tag, no number): it always holds `except`
    return [value]


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer past the float range reads as infinity
        return math.inf if value > 0 else -math.inf


def _tag(value: Any) -> Tag | None:
    """Typed key of a matchable element; bool first, since True == 1 and hash(True) == hash(1)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, str):
        return ("s", value)
    return None


def _first_above(values: np.ndarray, bound: int | float, strict: bool) -> int:
    """Index of the first sorted value > bound (strict) or >= bound, compared exactly."""
    if values.dtype == np.int64:
        if isinstance(bound, float):
            if math.isinf(bound):
                return 0 if bound < 0 else values.size
            start = math.floor(bound) + 1 if strict else math.ceil(bound)
        else:
            start = bound + 1 if strict else bound
        if start > _INT64_MAX:
            return values.size
        return int(np.searchsorted(values, max(start, _INT64_MIN), "left"))
    if isinstance(bound, int):
        # an integer past float precision: no float lies strictly between it and its rounding
        rounded = _as_float(bound)
        if rounded != bound:
            side = "left" if rounded > bound else "right"
            return int(np.searchsorted(values, rounded, side))
        bound = rounded
    return int(np.searchsorted(values, bound, "right" if strict else "left"))


def _sorted_array(labels: set[int]) -> np.ndarray:
    out = np.fromiter(labels, np.int64, len(labels))
    out.sort()
    return out


def _sorted_unique(labels: np.ndarray, max_label: int) -> np.ndarray:
    if labels.size * 16 < max_label:
        return np.unique(labels)
    seen = np.zeros(max_label + 1, np.bool_)
    seen[labels] = True
    return np.flatnonzero(seen)


def _contains(sorted_: np.ndarray, x: np.ndarray) -> np.ndarray:
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


def _narrow(
    found: np.ndarray, within: bool, part: np.ndarray, inside: bool, live: np.ndarray
) -> tuple[np.ndarray, bool]:
    """AND a part into the labels found so far; `live` itself stands for "no constraint yet"."""
    if found is live:
        return part, inside
    return _intersect(found, part), within or inside


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    small, big = (a, b) if a.size <= b.size else (b, a)
    return small[_contains(big, small)]


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not a.size or not b.size:
        return a
    return a[~_contains(b, a)]


def _union(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if p.size]
    if len(parts) <= 1:
        return parts[0] if parts else _EMPTY
    merged = np.concatenate(parts)
    merged.sort(kind="stable")  # runs of sorted input: timsort merges them in linear time
    keep = np.empty(merged.size, np.bool_)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]

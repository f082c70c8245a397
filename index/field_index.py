"""One declared payload field's index: value postings for matches, sorted numbers for ranges
(a part of index.payload_index, which answers whole filters from these)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from index.errors import InvalidCollectionConfig
from index.filter_model import Range
from index.sorted_labels import (
    EMPTY,
    INT64_MAX,
    INT64_MIN,
    LabelSet,
    Numbers,
    as_float,
    difference,
    sorted_unique,
)

FIELD_TYPES = ("keyword", "integer", "float", "bool")
MATCH_TYPES = frozenset({"keyword", "integer", "bool"})
RANGE_TYPES = frozenset({"integer", "float"})
# Added to a label's distinct-value count when it holds an element no `except` list can name
# (a float, a null item, an array or an object), so that label always satisfies `except`.
_UNNAMEABLE = 1 << 40
_INTS, _FLOATS, _UNNAMED, _MANY = 1, 2, 4, 8  # flag bits of a field's row for one label
_UNTAGGED = {0: ((), _MANY), _INTS: ((), _INTS | _MANY)}  # shared rows of untagged scalars

Tag = tuple[str, Any]
_SCALAR_TAGS = {str: "s", bool: "b", int: "i"}  # exact types: a bool is not taken for an int


class FieldIndex:
    """One declared field: value postings for matches, sorted numbers for ranges."""

    def __init__(self, key: str, type_: str) -> None:
        self.type = _check_field(key, type_)
        self._parts = key.split(".")
        self._matchable = type_ in MATCH_TYPES
        self._rangeable = type_ in RANGE_TYPES
        self._postings: dict[Tag, LabelSet] = {}
        self._tags: dict[Tag, Tag] = {}  # one shared tag object per value, however many points
        self._has_key = LabelSet()
        self._ints = Numbers(np.int64)
        self._floats = Numbers(np.float64)
        # label -> its row, one per point and field, so kept small: a bare tag (shared) for one
        # string, bool or 64-bit integer, else (its tags: one, or a tuple under _MANY; flags)
        self._rows: dict[int, tuple[Any, Any]] = {}

    def add(self, labels: list[int], payloads: Sequence[Mapping[str, Any]]) -> None:
        """Index points this field does not hold yet. Postings grow by one sorted merge per
        value, not per point: opening a collection indexes every stored point this way."""
        postings: dict[Tag, list[int]] = {}
        has_key: list[int] = []
        for label, payload in zip(labels, payloads, strict=True):
            value = _value_at(payload, self._parts)
            letter = _SCALAR_TAGS.get(type(value))
            if letter is not None and (letter != "i" or INT64_MIN <= value <= INT64_MAX):
                # the common case, one string, bool or 64-bit integer: what the loop below
                # makes of a one-element list, without building it
                flags = 0
                if letter == "i" and self._rangeable:
                    self._ints.add(label, [value])
                    flags = _INTS
                if self._matchable:
                    tag = self._tags.setdefault((letter, value), (letter, value))
                    postings.setdefault(tag, []).append(label)
                    self._rows[label] = tag  # its flags follow from it (`_row`)
                else:
                    self._rows[label] = _UNTAGGED[flags]
                has_key.append(label)
                continue
            elements = _elements(value)
            if not elements:  # absent, or an empty array/object: json_each yields no row
                continue
            tags, ints, floats, unnameable = _analyse(elements)
            kept = [self._tags.setdefault(t, t) for t in tags] if self._matchable else []
            for tag in kept:
                postings.setdefault(tag, []).append(label)
            has_key.append(label)
            flags = _UNNAMED * unnameable
            if self._rangeable and ints:
                self._ints.add(label, ints)
                flags |= _INTS
            if self._rangeable and floats:
                self._floats.add(label, [as_float(x) for x in floats])
                flags |= _FLOATS
            if len(kept) == 1:
                self._rows[label] = (kept[0], flags)
            else:
                self._rows[label] = (tuple(kept), flags | _MANY)
        for tag, added in postings.items():
            self._postings.setdefault(tag, LabelSet()).update(added)
        if has_key:
            self._has_key.update(has_key)
        self._ints.settle()
        self._floats.settle()

    def remove(self, label: int) -> None:
        row = self._rows.pop(label, None)
        if row is None:
            return
        tags, flags = self._row(row)
        for tag in tags:
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
        tags, flags = self._row(self._rows[label])
        return len(tags) + _UNNAMEABLE * bool(flags & _UNNAMED)

    def _row(self, row: tuple[Any, Any]) -> tuple[tuple[Tag, ...], int]:
        """(the tags, the flag bits) of a stored row."""
        if type(row[0]) is str:  # a bare tag: one scalar, a number only when an integer
            return (row,), _INTS if row[0] == "i" and self._rangeable else 0
        tags, flags = row
        return (tags if flags & _MANY else (tags,)), flags

    def posting(self, tag: Tag) -> np.ndarray:
        posting = self._postings.get(tag)
        return EMPTY if posting is None else posting.array()

    def excluding(self, tags: set[Tag]) -> np.ndarray:
        # `except` holds when the key has an element outside the list: drop the labels whose
        # every distinct element is listed (each listed posting counts one distinct element).
        has_key = self._has_key.array()
        listed = [self._postings[t].array() for t in tags if t in self._postings]
        if not listed:
            return has_key
        labels, counts = np.unique(np.concatenate(listed), return_counts=True)
        distinct = np.fromiter(map(self._distinct, labels.tolist()), np.int64, count=labels.size)
        return difference(has_key, labels[counts == distinct])

    def range(self, rng: Range, max_label: int) -> np.ndarray:
        bounds = [(rng.gt, True, True), (rng.gte, False, True)]
        bounds += [(rng.lt, False, False), (rng.lte, True, False)]
        if any(isinstance(b, float) and math.isnan(b) for b, _, _ in bounds):
            return EMPTY  # SQLite binds NaN as NULL, and no comparison with NULL holds
        hits = self._ints.between(bounds) + self._floats.between(bounds)
        if not hits:
            return EMPTY
        return sorted_unique(np.concatenate(hits), max_label)


def _value_at(payload: Any, parts: list[str]) -> Any:
    """The value at a dotted path; None when absent."""
    value = payload
    for part in parts:
        if not (type(value) is dict or isinstance(value, Mapping)) or part not in value:
            return None
        value = value[part]
    return value


def _elements(value: Any) -> list[Any] | None:
    """The elements of a value at a path, as index/filter_sql.py sees them; None when absent."""
    if isinstance(value, list | tuple):
        return list(value)  # an array's items, nulls and nested values included
    if value is None:
        return None  # a null value counts as absent
    # an object is one element equal to nothing (no tag, no number): it always holds `except`
    return [value]


def _analyse(elements: list[Any]) -> tuple[set[Tag], list[int], list[Any], bool]:
    """(distinct tags, 64-bit integers, other numbers, whether one element has no tag)."""
    tags: set[Tag] = set()
    ints: list[int] = []
    floats: list[Any] = []
    unnameable = False
    for element in elements:
        tag = tag_of(element)
        if tag is None:
            unnameable = True
        else:
            tags.add(tag)
        if isinstance(element, bool):
            continue
        if isinstance(element, int):
            # SQLite holds an integer past 64 bits as a real; compare it as one
            (ints if INT64_MIN <= element <= INT64_MAX else floats).append(element)
        elif isinstance(element, float):
            floats.append(element)
    return tags, ints, floats, unnameable


def tag_of(value: Any) -> Tag | None:
    """The posting key of a JSON scalar (type and value); None for a value no match names.
    bool comes first, since True == 1 and hash(True) == hash(1)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, str):
        return ("s", value)
    return None


def _check_field(key: str, type_: str) -> str:
    """`type_` once the key and type make a valid field, else InvalidCollectionConfig."""
    if not isinstance(key, str) or not key:
        raise InvalidCollectionConfig("a payload index key must be a non-empty string", "key")
    if type_ not in FIELD_TYPES:
        message = f"payload index type must be one of {', '.join(FIELD_TYPES)}, got {type_!r}"
        raise InvalidCollectionConfig(message, "type")
    return type_

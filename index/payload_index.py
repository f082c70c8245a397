"""In-memory payload indexes over declared fields, so filters stop scanning every payload.

As Qdrant's field indexes (lib/segment/src/index/field_index/): per field, each keyword, integer
and bool value maps to the labels holding it, and numbers sit in value-sorted arrays for ranges.
Answers equal the SQLite evaluator of index/filter_sql.py exactly, JSON types included: an integer
never matches 1.0 or true, a bool never matches 1, and a key holding an array matches when any
element does. Only the schema is persisted (`describe()`); contents are rebuilt from the payloads
when a collection opens.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from index.field_index import MATCH_TYPES, RANGE_TYPES, FieldIndex, tag_of
from index.filter_model import FieldCondition, Filter
from index.sorted_labels import (
    difference,
    intersect,
    narrow,
    union,
)


class PayloadIndex:
    """Field indexes over declared payload keys, answering covered filters as sorted labels."""

    def __init__(self, fields: Mapping[str, str] | None = None) -> None:
        self._fields: dict[str, FieldIndex] = {}
        self._max_label = -1
        # Reads merge pending writes into cached arrays, so they mutate too: one short lock.
        self._lock = threading.Lock()
        for key, type_ in (fields or {}).items():
            self._fields[key] = FieldIndex(key, type_)

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
        field = FieldIndex(key, type_)
        ids = _label_list(labels, payloads)
        with self._lock:  # held throughout, so no write lands between the scan and the swap
            field.add(ids, payloads)
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
                for label in ids:  # labels are unique here, so removing all first is the same
                    field.remove(label)
                field.add(ids, payloads)
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
        return found if within else intersect(found, live)

    def _covers(self, cond: FieldCondition) -> bool:
        field = self._fields.get(cond.key)
        if field is None:
            return False
        return field.type in (RANGE_TYPES if cond.range is not None else MATCH_TYPES)

    def _filter(self, flt: Filter, live: np.ndarray) -> tuple[np.ndarray, bool]:
        """Labels satisfying `flt`, and whether they are known to lie within `live` already."""
        # Mirrors compile_filter: an absent or empty clause is skipped (the model makes an
        # empty should absent); nothing at all is all.
        found, within = live, True
        for item in flt.must or ():
            found, within = narrow(found, within, *self._item(item, live), live)
        if flt.should:
            parts = [self._item(item, live) for item in flt.should]
            either = union([p for p, _ in parts]), all(w for _, w in parts)
            found, within = narrow(found, within, *either, live)
        if flt.must_not:
            found = difference(found, union([self._item(i, live)[0] for i in flt.must_not]))
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
            return field.posting(tag_of(match.value))
        if match.any is not None:
            return union([field.posting(tag_of(v)) for v in set(match.any)])
        assert match.except_ is not None
        return field.excluding({tag_of(v) for v in match.except_})


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

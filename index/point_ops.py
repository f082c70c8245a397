"""Point operations beyond Collection's own: a filtered page in id order, reads for analyses,
and payload-only updates (a point keeps its vector, its payload changes). A mixin of
`Collection`, which holds the state and the locks.

A payload update re-writes the point with the vector it has: the store, the ANN index and the
payload index then agree as after any upsert. It runs under the collection's writer lock, so no
write lands between reading the payloads and writing them back (no lost update).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from index.collection_config import CollectionConfig
from index.filter_sql import compile_filter
from index.filters import parse_filter
from index.locks import ReadWriteLock
from index.metrics import Metric
from index.plans import concat
from index.store import PointStore
from index.stored_point import StoredPoint

Payload = dict[str, Any]


class PointOps:
    """Collection's filtered scroll and payload-only updates (state lives on `Collection`)."""

    store: PointStore
    config: CollectionConfig
    metric: Metric
    _lock: threading.RLock
    _rw: ReadWriteLock
    get: Callable[..., list[StoredPoint]]
    upsert: Callable[..., int]

    def page_matching(
        self,
        filter: dict[str, Any] | None,
        start: str | None,
        limit: int,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        """Up to `limit` points matching `filter` (all without one), in id order from the id
        `start` on (inclusive, as Qdrant's scroll offset)."""
        flt = parse_filter(filter)
        sql, params = ("1", []) if flt is None else compile_filter(flt)
        # the cursor, the order and the limit are bound like the filter's own values
        where = f"points.id >= ? AND ({sql}) ORDER BY points.id LIMIT ?"
        # one commit for both reads: a point re-written between them had a new label, dropped
        # out of the page, and a short page ended a whole scroll
        with self._rw.read(), self.store.one_read():  # a close waits for it, as other reads
            labels = self.store.labels_matching(where, [start or "", *params, limit])
            return self.store.by_labels(labels.tolist(), with_vector)

    def set_payload(
        self,
        ids: Sequence[str] | None,
        filter: dict[str, Any] | None,
        values: Payload,
        key: Sequence[str] | None = None,
    ) -> int:
        """Merge `values` into the payloads (into the object at the path `key`, a list of object
        keys, when given)."""
        return self.update_payloads(ids, filter, lambda p: set_keys(p, values, key))

    def overwrite_payload(
        self, ids: Sequence[str] | None, filter: dict[str, Any] | None, payload: Payload
    ) -> int:
        """Replace the payloads whole."""
        return self.update_payloads(ids, filter, lambda _: dict(payload))

    def delete_payload_keys(
        self,
        ids: Sequence[str] | None,
        filter: dict[str, Any] | None,
        keys: Sequence[Sequence[str]],
    ) -> int:
        """Remove the `keys` (each a path: a list of object keys) from the payloads; absent keys
        are no error."""
        return self.update_payloads(ids, filter, lambda p: delete_keys(p, keys))

    def clear_payload(self, ids: Sequence[str] | None, filter: dict[str, Any] | None) -> int:
        """Empty the payloads."""
        return self.update_payloads(ids, filter, lambda _: {})

    def update_payloads(
        self,
        ids: Sequence[str] | None,
        filter: dict[str, Any] | None,
        change: Callable[[Payload], Payload],
    ) -> int:
        """Apply `change` to the payload of the points named by `ids` and/or matching `filter`;
        unknown ids are skipped. Returns how many points were updated."""
        with self._lock:  # no write lands between reading the payloads and writing them back
            wanted = list(ids or [])
            if filter is not None:
                wanted += self._ids_matching(filter)
            points = self.get(list(dict.fromkeys(wanted)), with_vector=True)
            if not points:
                return 0
            vectors = np.stack([p.vector for p in points if p.vector is not None])
            payloads = [change(dict(p.payload)) for p in points]
            return self.upsert([p.id for p in points], vectors, payloads)

    def _ids_matching(self, filter: dict[str, Any]) -> list[str]:
        """Ids of every point whose payload matches `filter`."""
        flt = parse_filter(filter)
        assert flt is not None
        with self._rw.read():
            labels = self.store.labels_matching(*compile_filter(flt))
            return [p.id for p in self.store.by_labels(labels.tolist())]

    # reads for analyses: the store's read connections under the view's read lock, so they
    # never wait for a commit, a rebuild or a snapshot in flight (as searches do not)
    def label_ids(self) -> dict[int, str]:
        """Every stored label with its id."""
        with self._rw.read():
            return self.store.label_ids()

    def stored_vectors(self, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(labels, vectors as the index sees them) sorted by label: all points or `labels`."""
        wanted = None if labels is None else labels.tolist()
        with self._rw.read():
            found, vectors = concat(self.store.iter_vectors(wanted), self.config.dim)
        order = np.argsort(found)
        return found[order], self.metric.prepare(vectors[order])

    def stored_points(self) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """(labels, vectors as the index sees them, label -> id) of every point, sorted by label
        and read at one commit: a point upserted meanwhile (a new label) is in all or none."""
        with self._rw.read(), self.store.one_read():
            ids = self.store.label_ids()
            labels, vectors = concat(self.store.iter_vectors(), self.config.dim)  # by label
        return labels, self.metric.prepare(vectors), ids

    def payloads(self, labels: np.ndarray) -> dict[int, dict[str, Any]]:
        """Label -> stored payload for those of `labels` still stored."""
        with self._rw.read():
            return {p.label: p.payload for p in self.store.by_labels(labels.tolist())}


def set_keys(payload: Payload, values: Payload, key: Sequence[str] | None = None) -> Payload:
    """`values` merged into the payload, or into the object at the path `key` (made if absent
    or not an object), as Qdrant's set_payload does: a null value removes its key. A path is a
    list of keys, so a key may hold a dot."""
    out = dict(payload)
    node = out
    for part in key or ():
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    for name, value in values.items():
        if value is None:
            node.pop(name, None)
        else:
            node[name] = value
    return out


def delete_keys(payload: Payload, keys: Sequence[Sequence[str]]) -> Payload:
    """The payload without the given paths (lists of keys; absent keys are no error)."""
    out = _copy_objects(payload)
    for key in keys:
        *path, last = key
        node: Any = out
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _copy_objects(value: Any) -> Any:
    # nested objects are copied, so deleting a key never mutates a payload another reader holds
    if isinstance(value, dict):
        return {k: _copy_objects(v) for k, v in value.items()}
    return value

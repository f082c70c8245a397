"""Declared payload indexes of a collection: declare, drop, load, and answer filters from them
(or from SQLite when they do not cover a filter). A mixin of `Collection`, which holds the state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from index.collection_config import CollectionConfig
from index.errors import InvalidCollectionConfig, PayloadIndexNotFound
from index.field_index import FIELD_TYPES
from index.filter_model import ARRAY, Filter
from index.filter_sql import compile_filter
from index.locks import ReadWriteLock
from index.payload_index import PayloadIndex
from index.store import PointStore

# The config-table row holding the declared payload indexes ({dotted key: type}). It is kept out
# of CollectionConfig.describe(), which snapshots are checked against: declaring an index must
# not throw a sound ANN snapshot away.
PAYLOAD_INDEXES_KEY = "payload_indexes"

log = logging.getLogger(__name__)


class PayloadFields:
    """Collection's payload-index half (state lives on `Collection`)."""

    config: CollectionConfig
    store: PointStore
    _lock: threading.RLock
    _rw: ReadWriteLock
    _ids: dict[int, str]
    _pending: bool
    _declared: dict[str, str]
    _payload_index: PayloadIndex | None
    _live: np.ndarray | None

    @property
    def payload_indexes(self) -> dict[str, str]:
        """Declared payload indexes: dotted key -> type."""
        return dict(self._declared)

    def create_payload_index(self, key: str, schema: str) -> None:
        """Declare (or re-type) an in-memory index on a payload field, indexing every point.

        The schema is written first: should indexing fail, the field is declared but unindexed,
        and filters on it go to SQLite, which answers the same.
        """
        check_payload_field(key, schema)
        with self._lock:
            indexed = {} if self._payload_index is None else self._payload_index.fields
            if self._declared.get(key) == schema == indexed.get(key):
                return  # declared and indexed already
            self._write_declared({**self._declared, key: schema})
            labels, values = self._field_values(key)  # stable: no write lands under `_lock`
            if self._payload_index is None:  # built aside, so searches go on meanwhile
                index = PayloadIndex()
                index.add_field(key, schema, labels, values)
                with self._rw.write():
                    self._payload_index = index
                return
            with self._rw.write():
                self._payload_index.add_field(key, schema, labels, values)

    def drop_payload_index(self, key: str) -> None:
        """Forget a declared payload index (PayloadIndexNotFound when there is none)."""
        with self._lock:
            if key not in self._declared:
                raise PayloadIndexNotFound(
                    f"collection {self.config.name!r} has no payload index on {key!r}",
                    "field_name",
                )
            with self._rw.write():
                if self._payload_index is not None:
                    self._payload_index.drop_field(key)
                    if not self._payload_index.fields:
                        self._payload_index = None
            self._write_declared({k: t for k, t in self._declared.items() if k != key})

    def _write_declared(self, declared: dict[str, str]) -> None:
        self.store.write_config({PAYLOAD_INDEXES_KEY: declared})
        self._declared = declared

    def _load_payload_index(self) -> PayloadIndex | None:
        """The declared fields indexed from the stored payloads, in one pass (None: none)."""
        if not self._declared:
            return None
        index = PayloadIndex(self._declared)
        for labels, payloads in self.store.iter_payloads():
            index.add(labels, payloads)
        return index

    def _field_values(self, key: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Every point's label with its payload cut down to `key`, so memory stays small."""
        parts, all_labels, values = key.split("."), [], []
        for labels, payloads in self.store.iter_payloads():
            all_labels.append(labels)
            values += [_project(payload, parts) for payload in payloads]
        labels = np.concatenate(all_labels) if all_labels else np.empty(0, np.int64)
        return labels, values

    def _matching(self, flt: Filter) -> np.ndarray:
        """Labels whose payload satisfies `flt`: from the payload index when it answers every
        condition, else from SQLite (the same labels either way)."""
        index = self._payload_index
        if index is not None and index.covers(flt):
            return index.matching(flt, self._live_labels())
        # sorted here: SQLite reads them in the order of the index it picks (`has_id`: by id)
        return np.sort(self.store.labels_matching(*compile_filter(flt)))

    def _live_labels(self) -> np.ndarray:
        """Sorted labels of the stored points, cached until the next write changes them."""
        if self._live is None:
            live = np.fromiter(self._ids, np.int64, len(self._ids))
            live.sort()
            live.setflags(write=False)
            self._live = live
        return self._live

    @contextmanager
    def _payload_index_follows(self) -> Iterator[None]:
        """Payload index writes after a store commit. If one fails midway, the payload index is
        dropped and SQLite answers every filter until the next open rebuilds it: slower, never
        wrong. The write itself committed, so it goes on to the ANN index."""
        try:
            yield
        except Exception as exc:
            self._payload_index = None
            log.warning(
                "collection %r: payload index dropped until restart (%s: %s)",
                self.config.name,
                type(exc).__name__,
                exc,
            )
        except BaseException:
            self._payload_index, self._pending = None, True  # the ANN index may lag: reconcile
            raise


MAX_FIELD_CHARS = 1024  # as point ids: what a URL path segment carries everywhere


def check_payload_field(
    key: Any, schema: Any, where: tuple[str, str] = ("field_name", "field_schema")
) -> None:
    """A payload index must name a key a filter can use and one of the indexable types;
    `where` names the request fields of the key and of the type."""
    if not isinstance(key, str) or not key or '"' in key or not _is_utf8(key):
        raise InvalidCollectionConfig(
            "a payload index field must be a non-empty dotted key in valid unicode, without "
            "a double quote",
            where[0],
        )
    if "" in key.split("."):  # `..`, `a.` or `.a` name no key; a client's URL read `..` as up
        raise InvalidCollectionConfig(
            f"a payload index field's dotted parts must not be empty, got {key!r}", where[0]
        )
    if len(key) > MAX_FIELD_CHARS:  # it travels in the DELETE's URL path: 100 kB never could
        raise InvalidCollectionConfig(
            f"a payload index field is at most {MAX_FIELD_CHARS} characters", where[0]
        )
    if ARRAY in key:
        # the index keeps one value list per point at a dotted path; it cannot reach into arrays
        raise InvalidCollectionConfig(
            "a payload index field may not contain [] (array paths are filtered without an index)",
            where[0],
        )
    if schema not in FIELD_TYPES:
        raise InvalidCollectionConfig(
            f"payload index type must be one of {', '.join(FIELD_TYPES)}, got {schema!r}",
            where[1],
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate could never be a filter's key
        return False
    return True


def _project(payload: Any, parts: list[str]) -> dict[str, Any]:
    """The payload cut down to the value at a dotted path: {} when it is absent."""
    value = payload
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return {}
        value = value[part]
    for part in reversed(parts):
        value = {part: value}
    return value

"""Insertion orders for the index built at the end of an offline build.

Named orders go through `Collection.rebuild(order, seed)`. `category:FIELD` needs the payload
field's values, which `rebuild` does not take, so `_rebuild_by_category` repeats its steps with
`insertion_order("category", ..., categories=...)`; it can go once `rebuild` accepts categories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from index.analysis import available_orders, insertion_order
from index.collection import REBUILD_BATCH, Collection
from ingest.errors import InvalidOption

AS_IS = "as-is"
CATEGORY = "category"


@dataclass(frozen=True)
class OrderSpec:
    """An `index.analysis` order name, plus the payload field for `category:FIELD`."""

    name: str = AS_IS
    field: str | None = None

    @classmethod
    def parse(cls, text: str) -> OrderSpec:
        """Read `random`, `lid-desc`, `cluster`, `category:FIELD`, `as-is`, ..."""
        name, _, field = text.partition(":")
        known = [o for o in available_orders() if o != CATEGORY] + [f"{CATEGORY}:FIELD"]
        if name not in available_orders() or (name == CATEGORY) != bool(field):
            raise InvalidOption(
                f"unknown insertion order {text!r}; use one of {', '.join(known)}",
                "insertion_order",
            )
        return cls(name, field or None)

    def __str__(self) -> str:
        return f"{self.name}:{self.field}" if self.field else self.name


def build_index(collection: Collection, order: OrderSpec, seed: int) -> None:
    """Give `collection` an index built in `order` (it was opened with one in label order)."""
    if order.name == AS_IS:
        return  # labels ascend in source order, and Collection.open inserted by label
    if order.field is None:
        collection.rebuild(order.name, seed=seed)
        return
    _rebuild_by_category(collection, order.field)


def _rebuild_by_category(collection: Collection, field: str) -> None:
    """As `Collection.rebuild`, grouping points by a payload field (rebuild takes no categories)."""
    store, dim = collection.store, collection.config.dim
    labels_parts, vector_parts, categories = [], [], []
    for labels, vectors in store.iter_vectors():
        labels_parts.append(labels)
        vector_parts.append(vectors)
        payloads = {p.label: p.payload for p in store.by_labels(labels.tolist())}
        categories += [json.dumps(payloads[int(x)].get(field), sort_keys=True) for x in labels]
    labels = np.concatenate(labels_parts) if labels_parts else np.empty(0, np.int64)
    vectors = np.concatenate(vector_parts) if vector_parts else np.empty((0, dim), np.float32)
    vectors = collection.metric.prepare(vectors)
    index = collection.backend(dim, collection.metric, collection.params)
    if len(labels):
        perm = insertion_order(CATEGORY, vectors, categories=np.asarray(categories))
        for start in range(0, len(perm), REBUILD_BATCH):
            chunk = perm[start : start + REBUILD_BATCH]
            collection.add_to_index(index, labels[chunk], vectors[chunk])
    collection.index, collection.insertion_order = index, f"{CATEGORY}:{field}"
    collection._dirty = True  # as rebuild() does: the snapshot must be rewritten

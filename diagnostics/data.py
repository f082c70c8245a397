"""What the analyses read from a collection: samples of stored vectors, ids, query vectors.

Reads go through the collection's read methods, which, as searches do, never wait for a write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from index import Collection
from index.analysis import TooFewPointsError
from index.vectors import as_matrix

# index metrics (index.metrics) -> analysis metrics (index.analysis)
ANALYSIS_METRIC = {"cosine": "cosine", "dot": "ip", "l2": "l2"}


def analysis_metric(metric: str) -> str:
    """The `index.analysis` name of a collection metric (cosine, dot, l2 -> cosine, ip, l2)."""
    return ANALYSIS_METRIC[metric]


def label_ids(collection: Collection) -> dict[int, str]:
    """Every stored label with its id."""
    return collection.label_ids()


def read_vectors(
    collection: Collection, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, vectors as the index sees them) sorted by label: all points or `labels`."""
    return collection.stored_vectors(labels)


def read_points(collection: Collection) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(labels, vectors, label -> id) of every point, sorted by label, as of one commit."""
    return collection.stored_points()


def require_points(n: int, need: int, what: str) -> None:
    """TooFewPointsError (on the collection's name) unless `n` points are at least `need`."""
    if n < need:
        raise TooFewPointsError(
            f"{what} needs at least {need} point{'s' * (need != 1)}; the collection has {n}",
            field="name",
        )


def sample_vectors(
    collection: Collection, size: int, seed: int, *, need: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """At most `size` stored points drawn without replacement, sorted by label; under cosine,
    zero vectors (stored, but with no direction to measure) are left out."""
    labels = np.array(sorted(label_ids(collection)), np.int64)
    require_points(len(labels), need, what)
    if len(labels) <= size:
        labels, vectors = read_vectors(collection)
    else:
        chosen = np.random.default_rng(seed).choice(labels, size, replace=False)
        labels, vectors = read_vectors(collection, np.sort(chosen))
    if collection.config.metric == "cosine":
        directed = np.einsum("ij,ij->i", vectors, vectors) > 0
        if not directed.all():
            labels, vectors = labels[directed], vectors[directed]
            require_points(len(labels), need, f"{what} (zero vectors left out)")
    return labels, vectors


def query_matrix(collection: Collection, rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Caller query vectors checked against the collection's dimension, prepared."""
    fields = [f"query_vectors[{i}]" for i in range(len(rows))]
    return collection.metric.prepare(as_matrix(rows, collection.config.dim, fields))


def held_out(n: int, asked: int | None, default: int, seed: int) -> np.ndarray:
    """A mask of the rows sampled as queries (explicit counts must leave some base)."""
    count = min(default, n // 2) if asked is None else asked
    if count < 1 or count > n - 2:
        raise TooFewPointsError(
            f"{count} queries out of {n} sampled points leave too few for the base", field="queries"
        )
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).choice(n, count, replace=False)] = True
    return mask


def payload_categories(
    collection: Collection, labels: np.ndarray, key: str | None
) -> np.ndarray | None:
    """The payload value at dotted `key` of each label, as sortable JSON text (null if absent)."""
    if key is None:
        return None
    payloads = collection.payloads(labels)
    values = []
    for label in labels.tolist():
        value: Any = payloads.get(label, {})
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values.append(json.dumps(value, sort_keys=True))
    return np.array(values)

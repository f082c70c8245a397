"""Vector indexes: the `VectorIndex` protocol, backends, collections and their persistence."""

from index.base import IndexParams, QueryParams, VectorIndex
from index.catalog import Catalog, check_name
from index.collection import Collection, CollectionConfig
from index.errors import IndexError_
from index.metrics import METRICS, Metric
from index.plans import Hit
from index.registry import available_indexes, index_class, register_index

__all__ = [
    "METRICS",
    "Catalog",
    "Collection",
    "CollectionConfig",
    "Hit",
    "IndexError_",
    "IndexParams",
    "Metric",
    "QueryParams",
    "VectorIndex",
    "available_indexes",
    "check_name",
    "index_class",
    "register_index",
]

"""Exceptions raised by the index package; the service maps them to HTTP answers."""

from nestvec.registry import ExtraMissing


class IndexError_(Exception):  # noqa: N801 - trailing underscore keeps the builtin IndexError visible
    """Base class: a stable machine-readable `code`, a message and the offending field."""

    code = "index_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class CollectionNotFound(IndexError_):
    code = "collection_not_found"


class CollectionDeleted(CollectionNotFound):
    """The collection was deleted while a request that had already found it was running."""

    def __init__(self) -> None:
        super().__init__("the collection was deleted while this request ran", "name")


class CollectionExists(IndexError_):
    code = "collection_exists"


class InvalidCollectionName(IndexError_):
    code = "invalid_collection_name"


class InvalidCollectionConfig(IndexError_):
    code = "invalid_collection_config"


class UnknownIndexType(IndexError_):
    code = "unknown_index_type"


class InvalidIndexParams(IndexError_):
    code = "invalid_index_params"


class DimensionMismatch(IndexError_):
    code = "dimension_mismatch"


class NonFiniteVector(IndexError_):
    code = "non_finite_vector"


class InvalidPointId(IndexError_):
    code = "invalid_point_id"


class InvalidPayload(IndexError_):
    code = "invalid_payload"


class PointNotFound(IndexError_):
    code = "point_not_found"


class PayloadIndexNotFound(IndexError_):
    code = "payload_index_not_found"


class InvalidFilter(IndexError_):
    code = "invalid_filter"


class NotEnoughPoints(IndexError_):
    code = "not_enough_points"


class IndexBackendUnavailable(IndexError_):
    """A remote index backend (Milvus) is unconfigured or unreachable."""

    code = "index_backend_unavailable"


class CollectionUnavailable(IndexError_):
    """A collection on disk that could not be opened at start-up (its store is damaged).

    Answered 503: it exists, so it is neither 404 nor free to create again, but it cannot be
    served until its files are repaired and the server restarts.
    """

    code = "collection_unavailable"


class IndexExtraMissing(ExtraMissing, IndexError_):
    """A backend whose pip extra is not installed (answered 409; the message names the line)."""

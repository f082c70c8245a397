"""The Milvus client, imported when first needed and with its failures mapped to
IndexBackendUnavailable (HTTP 503), for index.backends.milvus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from index.errors import IndexBackendUnavailable


def pymilvus_module() -> Any:
    """The pymilvus module, or an ImportError naming the extra to install."""
    try:
        import pymilvus
    except ImportError:
        raise ImportError(
            "the milvus index backend needs pymilvus and milvus-lite: pip install 'nestvec[milvus]'"
        ) from None
    return pymilvus


@contextmanager
def unavailable_on_failure(uri: str) -> Iterator[None]:
    """Milvus failures (down, unreachable, refusing) as IndexBackendUnavailable (HTTP 503)."""
    try:
        yield
    except IndexBackendUnavailable:
        raise
    except Exception as exc:  # pymilvus raises its own hierarchy and grpc errors
        message = f"Milvus at {uri} failed: {exc}"
        raise IndexBackendUnavailable(message, "index.params.uri") from None


class Guarded:
    """A MilvusClient whose every call maps failures through `unavailable_on_failure`."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client, self._uri = client, uri

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with unavailable_on_failure(self._uri):
                return method(*args, **kwargs)

        return call

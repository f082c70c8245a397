"""A collection's configuration as stored in its config table and described in its snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Service-wide defaults of backend parameters left unset, by backend name (settings -> here)
IndexDefaults = Mapping[str, dict[str, Any]]


@dataclass(frozen=True)
class CollectionConfig:
    name: str
    dim: int
    metric: str = "cosine"
    encoder: str | None = None
    index_type: str = "hnsw"
    index_params: dict[str, Any] = field(default_factory=dict)
    domain: str | None = None  # domain-routed encoders: the domain of this collection's documents
    # what the encoder's vectors came from (encoders' `fingerprint`); None: not recorded yet
    encoder_fingerprint: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "encoder": self.encoder,
            "dim": self.dim,
            "metric": self.metric,
            "index": {"type": self.index_type, "params": self.index_params},
            "domain": self.domain,
            "encoder_fingerprint": self.encoder_fingerprint,
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> CollectionConfig:
        """The config among a store's config rows; other keys (e.g. ingest progress) are skipped."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in stored.items() if key in names})

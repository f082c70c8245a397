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
        for key, valid in _STORED_CHECKS.items():  # a row edited by hand or damaged: refused
            if key not in stored or not valid(stored[key]):
                state = "is missing" if key not in stored else f"holds {stored[key]!r}"
                raise ValueError(f"its config row {key!r} {state}")
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in stored.items() if key in names})


def _is_int(value: Any) -> bool:
    return type(value) is int and value >= 1


# every version wrote these rows; a default filled in for a lost `metric` served an l2
# collection as cosine
_STORED_CHECKS: dict[str, Any] = {
    "name": lambda v: isinstance(v, str),
    "dim": _is_int,
    "metric": lambda v: v in ("cosine", "dot", "l2"),
    "index_type": lambda v: isinstance(v, str),
    "index_params": lambda v: isinstance(v, dict),
}

"""The `Encoder` protocol and the shared post-processing every encoder goes through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from encoders.errors import EmptyInput, InvalidDimension

Modality = Literal["text", "image", "graph"]


@runtime_checkable
class Encoder(Protocol):
    """What the service and the offline builds need from any encoder."""

    name: str
    modality: Modality
    dim: int
    nested_dims: tuple[int, ...]

    def encode(self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any) -> np.ndarray:
        """Float32 array of shape (n, dim or self.dim), L2-normalised after truncation."""
        ...

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Number of model tokens the inputs cost (for usage reporting)."""
        ...


class BaseEncoder:
    """Template: subclasses implement `_encode`; truncation and normalisation live here.

    `nested_dims` lists the Matryoshka prefixes that may be used alone, full dimension included;
    a model that is not Matryoshka-trained declares only its full dimension.
    """

    name: ClassVar[str]
    modality: ClassVar[Modality]
    dim: int
    nested_dims: tuple[int, ...]

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        raise NotImplementedError

    def encode(self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any) -> np.ndarray:
        """Encode, truncate to a validated nested dimension, L2-normalise, return float32."""
        target = self.check_dim(dim)
        if len(inputs) == 0:
            raise EmptyInput("inputs must not be empty", field="inputs")
        vectors = np.asarray(self._encode(inputs, **opts), dtype=np.float32)
        return l2_normalise(vectors[:, :target])

    def check_dim(self, dim: int | None) -> int:
        """Return the output dimension for a requested `dim`, or raise naming the allowed values."""
        if dim is None:
            return self.dim
        if dim not in self.nested_dims:
            allowed = ", ".join(str(d) for d in self.nested_dims)
            raise InvalidDimension(
                f"encoder {self.name!r} cannot produce dim={dim}; allowed: {allowed}", field="dim"
            )
        return dim

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Non-text encoders count one token per input."""
        return len(inputs)


def describe_encoder(encoder: Encoder | type) -> dict[str, Any]:
    """Public description for `GET /v1/encoders`; works on a class so listing loads no model."""
    return {
        "name": encoder.name,
        "modality": encoder.modality,
        "dim": encoder.dim,
        "nested_dims": list(encoder.nested_dims),
    }


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

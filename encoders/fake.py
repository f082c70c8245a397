"""A deterministic test encoder: hashed token vectors, no model file, no torch."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from encoders.base import BaseEncoder, Modality, check_texts
from encoders.registry import register_encoder

TOKEN = re.compile(r"\w+")
DIM = 64


def token_vector(token: str) -> np.ndarray:
    """The token's fixed random unit vector, seeded by its blake2b hash (same on every machine)."""
    seed = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).standard_normal(DIM)
    return vector / np.linalg.norm(vector)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; a text without words is one empty token, so it still has a
    direction (a zero vector could not be normalised)."""
    return TOKEN.findall(text.lower()) or [""]


@register_encoder("fake")
class FakeEncoder(BaseEncoder):
    """Test encoder: the sum of per-token hashed random unit vectors, 64-d, nested 16/32/64.

    Texts that share words get related vectors, so search results are meaningful enough for
    API and storage tests, but it knows no semantics: use it in tests, never in production.
    Pure function of its input; loads nothing, so it is ready at once.
    """

    modality: ClassVar[Modality] = "text"
    dim = DIM
    nested_dims = (16, 32, 64)

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        texts = check_texts(inputs)
        return np.stack([sum(map(token_vector, tokens(text))) for text in texts])

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Word tokens, as `_encode` sees them."""
        return sum(len(tokens(text)) for text in check_texts(inputs))

    @classmethod
    def describe_extra(cls, models_dir: Any = None) -> dict[str, Any]:
        """Says in `GET /v1/encoders` that this one is for tests."""
        return {"description": "deterministic hashed-token test encoder; no semantics"}

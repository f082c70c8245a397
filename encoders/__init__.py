"""Encoder plugins: the `Encoder` protocol, a registry, and the built-in encoders."""

from encoders.base import BaseEncoder, Encoder, Modality
from encoders.errors import (
    ArtifactMissing,
    EmptyInput,
    EncoderError,
    EncoderNotFound,
    InvalidDimension,
    InvalidInput,
)
from encoders.registry import EncoderPool, available_encoders, encoder_class, register_encoder

__all__ = [
    "ArtifactMissing",
    "BaseEncoder",
    "EmptyInput",
    "Encoder",
    "EncoderError",
    "EncoderNotFound",
    "EncoderPool",
    "InvalidDimension",
    "InvalidInput",
    "Modality",
    "available_encoders",
    "encoder_class",
    "register_encoder",
]

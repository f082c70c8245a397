"""Encoder plugins: the `Encoder` protocol, a registry, and the built-in encoders."""

from encoders.base import BaseEncoder, Encoder, Modality
from encoders.errors import (
    ArtifactMissing,
    EmptyInput,
    EncoderError,
    EncoderExtraMissing,
    EncoderNotFound,
    InvalidDimension,
    InvalidInput,
)
from encoders.registry import (
    EncoderPool,
    available_encoders,
    encoder_class,
    encoder_entries,
    register_encoder,
)
from nestvec.registry import ExtraMissing

__all__ = [
    "ArtifactMissing",
    "BaseEncoder",
    "EmptyInput",
    "Encoder",
    "EncoderError",
    "EncoderExtraMissing",
    "EncoderNotFound",
    "EncoderPool",
    "ExtraMissing",
    "InvalidDimension",
    "InvalidInput",
    "Modality",
    "available_encoders",
    "encoder_class",
    "encoder_entries",
    "register_encoder",
]

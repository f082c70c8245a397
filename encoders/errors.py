"""Exceptions raised by encoders; the service maps them to HTTP answers."""

from nestvec.registry import ExtraMissing


class EncoderError(Exception):
    """Base class: a stable machine-readable `code`, a message and the offending field."""

    code = "encoder_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class EncoderNotFound(EncoderError):
    code = "encoder_not_found"


class InvalidDimension(EncoderError):
    code = "invalid_dimension"


class EmptyInput(EncoderError):
    code = "empty_input"


class InvalidInput(EncoderError):
    code = "invalid_input"


class ArtifactMissing(EncoderError):
    """A trained encoder whose artifacts are not under the data directory (answered 409)."""

    code = "model_not_trained"


class ArtifactUnreadable(EncoderError):
    """A trained encoder whose files are there but do not load (cut short, damaged); 503."""

    code = "artifact_unreadable"


class InputTooLarge(EncoderError):
    """An input over a size limit (a decompression-bomb image); answered 413."""

    code = "input_too_large"


class UnsupportedFormat(EncoderError):
    """An input in a format the encoder does not read; answered 415."""

    code = "unsupported_format"


class EncoderExtraMissing(ExtraMissing, EncoderError):
    """An encoder whose pip extra is not installed (answered 409; the message names the line)."""

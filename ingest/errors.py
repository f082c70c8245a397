"""Exceptions raised by offline builds; the CLI prints them and exits with status 1."""


class IngestError(Exception):
    """Base class: a stable machine-readable `code`, a message and the offending field."""

    code = "ingest_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SourceNotFound(IngestError):
    code = "source_not_found"


class UnsupportedSource(IngestError):
    code = "unsupported_source"


class BadInput(IngestError):
    """A row that cannot be used; the message starts with the file name and line or row."""

    code = "bad_input"


class EmptySource(IngestError):
    code = "empty_source"


class NothingToWrite(IngestError):
    code = "nothing_to_write"


class ConfigConflict(IngestError):
    code = "config_conflict"


class InvalidOption(IngestError):
    code = "invalid_option"


class DataDirBusy(IngestError):
    """A server (or another build) holds the data directory's lock."""

    code = "data_dir_locked"


class EncoderChanged(IngestError):
    """The collection's vectors came from another model than the encoder gives now."""

    code = "encoder_changed"

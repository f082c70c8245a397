"""Errors raised by the analysis tools for bad input (all are ``ValueError`` subclasses).

They are also ``index.errors.IndexError_`` subclasses, so the service answers them with their
``code`` and ``field`` like every other index error (422).
"""

from __future__ import annotations

from index.errors import IndexError_


class AnalysisError(IndexError_, ValueError):
    """Bad input to an analysis function; ``code`` is stable, ``field`` names the argument."""

    code: str = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, field)
        if code is not None:
            self.code = code


class InvalidVectorsError(AnalysisError):
    """Vectors of the wrong shape or dtype, or holding NaN/inf."""

    code = "invalid_vectors"


class TooFewPointsError(AnalysisError):
    """Fewer points than the requested neighbour count or cluster count needs."""

    code = "too_few_points"


class UnknownOrderError(AnalysisError):
    """An insertion-order name that is not registered."""

    code = "unknown_order"


class InvalidParameterError(AnalysisError):
    """A parameter out of its allowed range or of the wrong kind."""

    code = "invalid_parameter"

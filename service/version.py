"""The installed distribution's version, for `nestvec --version`, /info and the OpenAPI document."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def nestvec_version() -> str:
    """The version pip installed, or `0+unknown` when run from a tree that is not installed."""
    try:
        return version("nestvec")
    except PackageNotFoundError:
        return "0+unknown"

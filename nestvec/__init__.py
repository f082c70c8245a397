"""The distribution's own namespace: its version, the shared plugin registry, the Python client."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nestvec")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0"

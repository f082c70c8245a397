"""Argument types the commands share."""

from __future__ import annotations

import argparse
from pathlib import Path


def path_arg(text: str) -> Path:
    """A path option's value; an empty one (an unset variable in a script) is refused: it was
    the current directory, or silently the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give one, or leave the option out")
    return Path(text)

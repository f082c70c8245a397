"""`nestvec train graph` (being built)."""

from __future__ import annotations

import argparse

from encoders.artifacts import add_output_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    raise SystemExit("nestvec train graph: not built yet")

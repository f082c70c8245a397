"""Argument types the commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors are one line, as every other error of the CLI is (it
    printed the whole usage block first); subcommands' parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        found, extra = super().parse_known_args(args, namespace)
        if getattr(found, _PARSED_BY, None) is None:  # the innermost subcommand finishes first
            setattr(found, _PARSED_BY, self)
        return found, extra

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """argparse's, but an argument no command takes is refused by the innermost subcommand
        given, so the message points at its help (`nestvec ingest --help`, not `nestvec`'s)."""
        found, extra = self.parse_known_args(args, namespace)
        innermost = getattr(found, _PARSED_BY)
        delattr(found, _PARSED_BY)
        if extra:
            innermost.error(f"unrecognized arguments: {' '.join(extra)}")
        return found


_PARSED_BY = "_parsed_by"


def path_arg(text: str) -> Path:
    """A path option's value; an empty one (an unset variable in a script) is refused: it was
    the current directory, or silently the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give one, or leave the option out")
    return Path(text)


def _number(
    kind: type, low: float, high: float | None, low_open: bool, what: str
) -> Callable[[str], Any]:
    """An argparse type: `kind` from `low` (excluded when `low_open`) up to `high` (excluded)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value != value or (low_open and value <= low) or value < low:  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        if high is not None and value >= high:
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return parse


# Training options out of their range trained nothing (0 epochs, a 0-minute budget) and wrote an
# untrained model that the server then served, or ended in a traceback (a negative hop count).
positive_int = _number(int, 1, None, False, "an integer of at least 1")
count_arg = _number(int, 0, None, False, "an integer of at least 0")
positive_float = _number(float, 0.0, float("inf"), True, "a number above 0")
fraction_arg = _number(float, 0.0, 1.0, False, "a number from 0 up to (not including) 1")
# a negative seed was stored with an offline build and failed every later run of it
seed_arg = _number(int, 0, 2**31, False, "a seed from 0 to 2147483647")

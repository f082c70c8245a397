"""How a build stops: Ctrl-C and SIGTERM end it where it stands, resumable by the same command
(each batch is committed whole, or not at all)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the build stands: it stops as Ctrl-C does, resumable (run as a
    container's PID 1, ingest ignored SIGTERM, so `docker stop` waited for its SIGKILL)."""


@contextlib.contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # only main may set handlers
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(exc: KeyboardInterrupt) -> int:
    print("nestvec ingest: interrupted; run the same command to resume", file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130

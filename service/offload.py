"""Where a route's blocking engine call runs: inline on the event loop, or on a worker thread.

The engine, encoders and indexes are synchronous. A worker-thread hop costs more than a short
in-memory read (a single vector search answers in a tenth of a millisecond, mostly in native
code), so such reads run inline; anything that encodes, writes, scans or calls out goes to the
thread pool, where it cannot stall other requests. Encoding itself is batched in
`service.batching`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def run(call: Callable[..., T], *args: Any, inline: bool) -> T:
    """`call(*args)`, on the event loop when `inline`, else on a worker thread."""
    if inline:
        return call(*args)
    return await run_in_threadpool(call, *args)

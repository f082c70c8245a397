"""Dependencies declared once as `Annotated` aliases, and the access each route declares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.auth import require_read, require_write
from service.engine import Engine


async def get_engine(request: Request) -> Engine:
    """The Engine the app's lifespan opened (Starlette lifespan state, not a global); async, so
    FastAPI calls it on the event loop instead of hopping to a worker thread."""
    return request.state.engine  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(get_engine)]

# Every route but the open probes declares exactly one (tests/service/test_auth_matrix.py checks):
# `dependencies=[ReadAccess]` on a router or route that only reads, `[WriteAccess]` on one that
# changes a collection. A read-only API key gets 403 `forbidden` on write routes only.
ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)

"""Dependencies declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.engine import Engine


def get_engine(request: Request) -> Engine:
    """The Engine the app's lifespan opened (Starlette lifespan state, not a global)."""
    return request.state.engine  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(get_engine)]

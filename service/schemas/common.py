"""What every body shares: the strict request base, point ids and the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

PointId = StrictStr | StrictInt  # integers are accepted and stored as their decimal string


def one_of(model: BaseModel, names: tuple[str, ...]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of: {', '.join(names)}")


class ErrorBody(BaseModel):
    """Every error the service returns."""

    code: str
    message: str
    field: str | None = None


ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 415, 422, 429)


# Declared app-wide so the OpenAPI document shows the real error shape (FastAPI would otherwise
# advertise its own 422 body, which this service never sends).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in ERROR_STATUSES
}


# Every request model forbids unknown fields: a typo ("fliter", "limit") is a 422 that names
# it, never a silently ignored option.
class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

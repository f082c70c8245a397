"""What every body shares: the strict request base, point ids and the error body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr

PointId = StrictStr | StrictInt  # integers are accepted and stored as their decimal string
# numbers only: JSON true and "2.5" are refused, not stored as 1.0 and 2.5 (integers are numbers)
Vector = list[StrictFloat]


def one_of(model: BaseModel, names: tuple[str, ...]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of: {', '.join(names)}")


class ErrorBody(BaseModel):
    """Every error the service returns."""

    code: str
    message: str
    field: str | None = None


# Every request model forbids unknown fields: a typo ("fliter", "limit") is a 422 that names
# it, never a silently ignored option. Strict types, as Qdrant's and OpenAI's servers parse
# JSON: `k: "5"` or `true`, `with_payload: "no"` and a threshold of `true` are refused, not
# taken as 5, 1, false and 1.0 (integers still count as numbers).
STRICT_REQUEST = ConfigDict(extra="forbid", strict=True)


class StrictRequest(BaseModel):
    model_config = STRICT_REQUEST

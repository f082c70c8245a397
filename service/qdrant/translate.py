"""Translation between Qdrant's shapes and nestvec's: ids, distances, scores, payload and vector
selection, the answer envelope, and the route class whose errors take Qdrant's error shape."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from index import METRICS, Hit
from index.errors import InvalidCollectionConfig
from index.stored_point import StoredPoint, check_point_id
from service.errors import ServiceError
from service.routers import JsonRoute
from service.schemas.common import Vector
from service.schemas.json_path import EACH, parse_path
from service.schemas.qdrant import QdrantId, WithPayload, WithVector

# the Qdrant release whose REST API this subset follows; qdrant-client checks major.minor
QDRANT_VERSION = "1.20.0"
DISTANCES = {"Cosine": "cosine", "Dot": "dot", "Euclid": "l2"}
METRIC_NAMES = {metric: name for name, metric in DISTANCES.items()}
MAX_ID = 2**64 - 1
# what the unnamed vector written as a name ({"": ...}) must hold: the body models let any
# value under a name through (named and sparse vectors get their own error below)
ONE_VECTOR: TypeAdapter[list[float]] = TypeAdapter(Vector)
VECTORS: TypeAdapter[list[list[float]]] = TypeAdapter(list[Vector])


class QdrantRoute(JsonRoute):
    """A JsonRoute whose errors leave as Qdrant's `{"status": {"error"}, "time"}`
    (service.errors reads this flag), so qdrant-client raises its own UnexpectedResponse."""

    qdrant_errors = True


class Unsupported(ServiceError):
    """A Qdrant feature this subset does not serve (named vectors, sparse vectors, fusion)."""

    code = "unsupported"


def answer(result: Any, started: float) -> dict[str, Any]:
    """Qdrant's success envelope."""
    return {"result": result, "status": "ok", "time": time.perf_counter() - started}


def to_nestvec_id(point_id: QdrantId, field: str, strict: bool = False) -> str:
    """A Qdrant id as a nestvec id: an integer as its decimal string, a UUID in its canonical
    hyphenated form. `strict` (writes) refuses other strings, as Qdrant does; reads let them
    through, so points written through the v1 API can be read here."""
    if isinstance(point_id, int):
        if not 0 <= point_id <= MAX_ID:
            raise ServiceError("a point id must be an unsigned 64-bit integer or a UUID", field)
        return str(point_id)
    try:
        return str(uuid.UUID(point_id))
    except ValueError:
        if strict:
            raise ServiceError(
                f"point id {point_id!r} is neither an unsigned integer nor a UUID", field
            ) from None
        check_point_id(point_id, field)  # NUL or a lone surrogate: no point has it
        return point_id


def path_number(point_id: str) -> list[str]:
    """A path id as the integer Qdrant reads first (Rust's parse: `01` and `+1` are 1), as a
    nestvec id; none where it is no unsigned 64-bit integer. A /v1 point written as the string
    "01" is asked for after it."""
    digits = point_id.removeprefix("+")
    if digits.isascii() and digits.isdigit() and len(digits) <= 20 and int(digits) <= MAX_ID:
        return [str(int(digits))]
    return []


def to_qdrant_id(point_id: str) -> int | str:
    """A nestvec id as Qdrant shows it: decimal strings become integers again."""
    if point_id.isdecimal() and point_id.isascii() and str(int(point_id)) == point_id:
        value = int(point_id)
        if value <= MAX_ID:
            return value
    return point_id


def to_metric(distance: str) -> str:
    """A Qdrant distance name as a nestvec metric."""
    if distance not in DISTANCES:
        known = ", ".join(DISTANCES)
        raise InvalidCollectionConfig(
            f"distance {distance!r} is not supported here; use one of: {known}",
            "vectors.distance",
        )
    return DISTANCES[distance]


def to_score(score: float, metric: str) -> float:
    """nestvec scores are higher-is-better; Qdrant's Euclid reports the distance itself."""
    return -score if metric == "l2" else score


def passes(score: float, threshold: float | None, distance: bool) -> bool:
    """Qdrant's score_threshold, exclusive as in qdrant-client's engine ("only higher scores"):
    a score must pass it, or for a distance (Euclid's) stay under it."""
    if threshold is None:
        return True
    return score < threshold if distance else score > threshold


def select_payload(payload: dict[str, Any], spec: WithPayload | None) -> dict[str, Any] | None:
    """The payload cut as `with_payload` asks, by Qdrant's JSON paths (`a.b`: b inside a;
    `list[].b`: b inside each element of list)."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return payload
    if isinstance(spec, list):
        return _selected(payload, [_parsed_path(p) for p in spec], include=True)
    unknown = set(spec) - {"include", "exclude"}
    if unknown or len(spec) != 1:
        raise ServiceError("with_payload takes a bool, a key list, {include} or {exclude}")
    include = "include" in spec
    paths = [_parsed_path(p) for p in spec["include" if include else "exclude"]]
    return _selected(payload, paths, include)


def _parsed_path(path: str) -> list[Any]:
    try:
        return parse_path(path)
    except ValueError as e:
        raise ServiceError(str(e), "with_payload") from None


def _selected(value: Any, paths: list[list[Any]], include: bool) -> Any:
    """Qdrant's `JsonPath::value_filter`: each object key and array element is kept or dropped by
    its path (an element's path ends in `[]`, whatever its index), then walked within. Include
    keeps a path that agrees with a pattern as far as both go (`a` for `a.b`, `a.b.c` too);
    exclude drops a path that a pattern begins."""

    def keep(path: list[Any]) -> bool:
        if include:
            return any(all(a == b for a, b in zip(p, path, strict=False)) for p in paths)
        return not any(path[: len(p)] == p for p in paths)

    def walk(value: Any, path: list[Any]) -> Any:
        if isinstance(value, list):
            return [walk(v, path + [EACH]) for v in value] if keep(path + [EACH]) else []
        if isinstance(value, dict):
            return {k: walk(v, path + [k]) for k, v in value.items() if keep(path + [k])}
        return value

    return walk(value, [])


def wants_vector(spec: WithVector) -> bool:
    """with_vector as a flag; a list names vectors, and the unnamed one (named "") is all
    there is: `["image"]` asks for none of it, as Qdrant answers."""
    return "" in spec if isinstance(spec, list) else spec


def record(
    point: StoredPoint | Hit,
    metric: str,
    with_payload: WithPayload | None,
    with_vector: WithVector,
) -> dict[str, Any]:
    """A Qdrant Record; a Cosine collection shows unit vectors, as Qdrant normalises on upsert
    (nestvec keeps what was sent, and its own API answers that)."""
    vector = None
    if wants_vector(with_vector) and point.vector is not None:
        vector = METRICS[metric].prepare(point.vector[None])[0].tolist()
    return {
        "id": to_qdrant_id(point.id),
        "payload": select_payload(point.payload or {}, with_payload),
        "vector": vector,
    }


def scored(
    hit: Hit, metric: str, with_payload: WithPayload | None, with_vector: WithVector, score: float
) -> dict[str, Any]:
    """A Qdrant ScoredPoint (`version` is 0: nestvec keeps no per-point version)."""
    return {**record(hit, metric, with_payload, with_vector), "version": 0, "score": score}


def unnamed(
    vector: Any, using: str | None, field: str, shape: TypeAdapter[Any] = ONE_VECTOR
) -> Any:
    """The unnamed vector of a request (`shape`: one vector, or VECTORS for a batch); a named one
    is refused (one collection per vector)."""
    if using:
        raise Unsupported(
            "named vectors are not supported: create one collection per vector name", field
        )
    if isinstance(vector, dict) and set(vector) == {"name", "vector"} and vector["name"] == "":
        vector = {"": vector["vector"]}  # search's NamedVector form of the unnamed vector
    if isinstance(vector, dict) and set(vector) == {""}:
        try:  # "" names the unnamed vector (LangChain sends it so)
            return shape.validate_python(vector[""])
        except ValidationError as e:
            first = e.errors()[0]
            raise RequestValidationError([{**first, "loc": ("body", field, *first["loc"])}]) from e
    if isinstance(vector, dict):
        raise Unsupported(
            "named or sparse vectors are not supported: send one unnamed vector per point", field
        )
    return vector


def qdrant_filter(raw: Any) -> Any:
    """A Qdrant filter with `has_id` ids written as nestvec ids (UUIDs canonical); the rest is
    left for index.filters to validate."""
    if isinstance(raw, list):
        return [qdrant_filter(item) for item in raw]
    if not isinstance(raw, dict):
        return raw
    out = {}
    for key, value in raw.items():
        if key == "has_id" and isinstance(value, list):
            value = [_id_in_filter(v) for v in value]
        elif key in ("must", "should", "must_not", "conditions", "min_should"):
            value = qdrant_filter(value)
        out[key] = value
    return out


def _id_in_filter(value: Any) -> Any:
    # an id of the wrong type is left as it is, for the filter's validation to name
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        try:
            return to_nestvec_id(value, "filter.has_id")
        except ServiceError:
            return value
    return value

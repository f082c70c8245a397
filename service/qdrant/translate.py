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
    """The payload cut as `with_payload` asks: keys are JSON paths as in Qdrant (`a.b` keeps or
    drops `b` inside `a`, `list[].b` inside each element of `list`)."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return payload
    if isinstance(spec, list):
        kept = _kept(payload, _path_tree(spec))
        return {} if kept is _NOTHING else kept  # type: ignore[no-any-return]
    unknown = set(spec) - {"include", "exclude"}
    if unknown or len(spec) != 1:
        raise ServiceError("with_payload takes a bool, a key list, {include} or {exclude}")
    if "include" in spec:
        return select_payload(payload, spec["include"])
    return _dropped(payload, _path_tree(spec["exclude"]))  # type: ignore[no-any-return]


_WHOLE: dict[str, Any] = {}  # a tree leaf: the value at that path, whole


def _path_tree(paths: list[str]) -> dict[str, Any]:
    """{"a": {"b": _WHOLE}, "t": _WHOLE} for ["a.b", "t"]; "[]" steps into arrays, which the
    cuts below do element by element anyway."""
    tree: dict[str, Any] = {}
    for path in paths:
        node, parts = tree, [p.removesuffix("[]") for p in path.split(".")]
        for depth, part in enumerate(parts):
            if node.get(part) is _WHOLE:
                break  # a shorter path already keeps (or drops) all of it
            if depth == len(parts) - 1:
                node[part] = _WHOLE
            else:
                node = node.setdefault(part, {})
    return tree


_NOTHING = object()  # what a path reaches when it reaches nothing (a null is a value it keeps)


def _kept(value: Any, tree: dict[str, Any]) -> Any:
    """What of `value` the paths reach (_NOTHING: nothing; None was both, so `{"n": null}`
    lost `n`)."""
    if tree is _WHOLE:
        return value
    if isinstance(value, list):
        return [kept for v in value if (kept := _kept(v, tree)) is not _NOTHING]
    if not isinstance(value, dict):
        return _NOTHING
    out = {k: _kept(value[k], sub) for k, sub in tree.items() if k in value}
    return {k: v for k, v in out.items() if v is not _NOTHING} or _NOTHING


def _dropped(value: Any, tree: dict[str, Any]) -> Any:
    """`value` without what the paths reach."""
    if isinstance(value, list):
        return [_dropped(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k: v if k not in tree else _dropped(v, tree[k])
        for k, v in value.items()
        if tree.get(k) is not _WHOLE
    }


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

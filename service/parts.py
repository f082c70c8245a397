"""Points from inputs that hold several things (faces in a photo): one point per part.

The point `{"id": "img1", "input": ...}` becomes `img1#0`, `img1#1`... (most prominent part
first), each with the point's payload plus `source_id` and the part's own payload (a box).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from encoders import EncoderError
from encoders.base import PartEncoder
from index.errors import InvalidPointId
from service.schemas.points import PointIn

_INPUT_FIELD = re.compile(r"^inputs\[(\d+)\]")
_PART_ID = re.compile(r"#[0-9]+$")  # what part_id appends (store_schema.source_of reads it)


def part_id(source_id: str, i: int) -> str:
    return f"{source_id}#{i}"


def expand_parts(
    encoder: PartEncoder, points: Sequence[PointIn], fields: Sequence[str], dim: int
) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """Ids, vectors and payloads of every part of the points' raw inputs."""
    for point, field in zip(points, fields, strict=True):
        if _PART_ID.search(str(point.id)):  # its faces would be no one's: `x#1#0` of `x#1`
            message = (
                f"{str(point.id)!r} names a part (a face of {str(point.id).rsplit('#', 1)[0]!r}); "
                "a photo's id may not end in #<number>"
            )
            raise InvalidPointId(message, f"{field}.id")
    try:
        parts = encoder.encode_parts([p.input for p in points], dim=dim)
    except EncoderError as exc:  # name the point, not the encoder's own input list
        match = _INPUT_FIELD.match(exc.field or "")
        if match:
            exc.field = f"{fields[int(match[1])]}.input{exc.field[match.end() :]}"  # type: ignore[index]
        raise
    ids, vectors, payloads = [], [], []
    for point, found in zip(points, parts, strict=True):
        source = str(point.id)
        for i, part in enumerate(found):
            ids.append(part_id(source, i))
            vectors.append(part.vector)
            payloads.append({**point.payload, "source_id": source, **part.payload})
    return ids, np.asarray(vectors, np.float32).reshape(len(ids), dim), payloads

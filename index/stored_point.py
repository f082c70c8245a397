"""A point as the store reads it back, and the JSON text its payload is kept in."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import orjson

from index.errors import InvalidPayload, InvalidPointId
from index.json_depth import json_depth
from nestvec.text import is_unicode

# As Qdrant's JSON reader (serde_json's recursion limit); orjson writes no deeper than 255
MAX_PAYLOAD_DEPTH = 128
# orjson reads an integer outside [-2**63, 2**64) as a float where json keeps it whole; such an
# integer has at least 19 digits, so a stored text with a 19-digit run is left to json
_LONG_DIGITS = re.compile(r"[0-9]{19}")


@dataclass(frozen=True)
class StoredPoint:
    label: int
    id: str
    payload_json: str  # as stored: answers splice it unparsed
    vector: np.ndarray | None = None

    @cached_property
    def payload(self) -> dict[str, Any]:
        return decode_payload(self.payload_json)  # type: ignore[no-any-return]


def decode_payload(text: str) -> Any:
    """A stored payload decoded exactly as `json.loads` decodes it, by orjson (several times
    faster: opening a collection decodes every payload for its payload index) where the two
    agree."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # a number past the float range, say: json's call
            pass
    return json.loads(text)


# an id comes back as the paging cursor, sent again in a URL: HTTP servers refuse request lines
# past a few kB (uvicorn's h11: 16 kB), and 1,024 characters percent-encoded stay under that
MAX_ID_CHARS = 1024


def check_point_id(point_id: str, field: str = "id", new: bool = False) -> None:
    """An id is Unicode text without NUL: SQLite cannot store a lone surrogate, and cuts a
    string at NUL when JSON functions read it back, so either would lose the point. A `new` id
    (one being written) is at most MAX_ID_CHARS long; ids stored before the limit stay readable."""
    if "\x00" in point_id:
        raise InvalidPointId(f"point id {point_id!r} holds a NUL character", field)
    if not is_unicode(point_id):
        raise InvalidPointId(f"point id {point_id!r} is not valid Unicode", field)
    if new and len(point_id) > MAX_ID_CHARS:
        message = f"point id of {len(point_id)} characters is longer than {MAX_ID_CHARS}"
        raise InvalidPointId(message, field)


def check_points(ids: Sequence[str], payloads: Sequence[dict[str, Any]], at: Sequence[str]) -> None:
    """The store's checks of ids and payloads, the first bad one named by its place (`at[i]`,
    e.g. `points[2]`): the store, given them in a list, can only say `id` or `payload`."""
    for point_id, payload, where in zip(ids, payloads, at, strict=True):
        check_point_id(point_id, f"{where}.id", new=True)
        payload_json(point_id, payload, f"{where}.payload")


def payload_json(point_id: str, payload: dict[str, Any], field: str = "payload") -> str:
    """A payload as the JSON text it is stored and answered in: ASCII, its keys escaped as
    `filter_sql.json_path` expects. NaN, Infinity and lone surrogates, which Python's json
    writes but JSON does not define, are refused, as is nesting past MAX_PAYLOAD_DEPTH: answers
    splice this text unparsed."""
    if json_depth(payload) > MAX_PAYLOAD_DEPTH:
        message = f"payload of point {point_id!r} nests deeper than {MAX_PAYLOAD_DEPTH} levels"
        raise InvalidPayload(message, field)
    try:
        text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")  # a lone surrogate cannot be encoded
    except (ValueError, UnicodeEncodeError) as e:
        raise InvalidPayload(f"payload of point {point_id!r} is not valid JSON: {e}", field) from e
    # ensure_ascii escapes DEL as well as every non-ASCII character
    return text if text.isascii() and "\x7f" not in text else json.dumps(payload)

"""Stored payloads decode (orjson where it agrees with json) exactly as `json.loads` would."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from index.stored_point import decode_payload, payload_json

# integers around the 64-bit edges and past them, floats json writes in full (1e300, -0.0)
NUMBERS = (
    st.integers()
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**19, 10**20, 10**400])
    | st.floats(allow_nan=False, allow_infinity=False)
)
SCALARS = NUMBERS | st.text() | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
)


def same(a: Any, b: Any) -> bool:
    """Equal with the same types throughout (1 and 1.0 and True differ; -0.0 keeps its sign)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(), VALUES, max_size=4))
def test_decode_payload_equals_json_loads(payload: dict[str, Any]) -> None:
    text = payload_json("p", payload)
    assert same(decode_payload(text), json.loads(text))


def test_integers_past_64_bits_stay_integers() -> None:
    for big in (2**64, -(2**64), 10**30):
        text = payload_json("p", {"n": big, "s": "x"})
        assert decode_payload(text) == {"n": big, "s": "x"}
        assert type(decode_payload(text)["n"]) is int

"""Hostile payload-filter keys and values: never SQL, always the filter's exact meaning."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import assert_error

from index import Catalog, CollectionConfig
from index.errors import InvalidFilter

# The key from issue 17: closed the quoted path, and `OR 1=1` matched (and deleted) every point.
INJECTION = "a' || char(34)) WHERE 1) OR 1=1) --"
DIM = 4


def _delete(client: TestClient, name: str, body: dict[str, Any]) -> Any:
    return client.request("DELETE", f"/v1/collections/{name}/points", json=body)


def _count(client: TestClient, name: str, flt: dict[str, Any] | None = None) -> Any:
    # encoded here (ASCII escapes), so a lone surrogate can travel as a client could send it
    body = json.dumps({"filter": flt} if flt else {})
    headers = {"content-type": "application/json"}
    return client.post(f"/v1/collections/{name}/count", content=body, headers=headers)


def _make(client: TestClient, name: str, payloads: list[dict[str, Any]]) -> None:
    body = {"name": name, "dim": DIM, "metric": "cosine", "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201, body
    vectors = np.random.default_rng(0).normal(size=(len(payloads), DIM)).tolist()
    points = [
        {"id": f"p{i}", "vector": v, "payload": p}
        for i, (v, p) in enumerate(zip(vectors, payloads, strict=True))
    ]
    r = client.put(f"/v1/collections/{name}/points", json={"points": points})
    assert r.json() == {"upserted": len(payloads)}, r.text


def test_issue_repro_empty_range_is_refused_and_deletes_nothing(client: TestClient) -> None:
    _make(client, "inj", [{"a": 1}, {"a": 2}, {"b": "x"}, {"c": [1, 2]}])
    flt = {"must": [{"key": INJECTION, "range": {}}]}
    r = _count(client, "inj", flt)
    assert_error(r, 422, "invalid_filter", "filter")
    assert "range" in r.json()["message"]
    assert_error(_delete(client, "inj", {"filter": flt}), 422, "invalid_filter", "filter")
    assert _count(client, "inj").json() == {"count": 4}


def test_issue_repro_key_with_match_means_that_literal_key(client: TestClient) -> None:
    # the hostile text is a legal key: it must select exactly the point that has it, no other
    _make(client, "inj", [{"a": 1}, {"a": 2}, {INJECTION: 1}, {"a": {"' OR 1=1 --": 1}}])
    for value, expected in ((1, 1), (2, 0), ("x", 0)):
        flt = {"must": [{"key": INJECTION, "match": {"value": value}}]}
        assert _count(client, "inj", flt).json() == {"count": expected}
    gone = {"must": [{"key": INJECTION, "range": {"gte": 0}}]}
    assert _delete(client, "inj", {"filter": gone}).json() == {"deleted": 1}
    assert _count(client, "inj").json() == {"count": 3}
    for key in (INJECTION, "a.' OR 1=1 --"):
        flt = {"must_not": [{"key": key, "match": {"value": 1}}]}
        assert _count(client, "inj", flt).json() == {"count": 3 if key == INJECTION else 2}
    r = client.post(
        "/v1/collections/inj/search",
        json={
            "query": {"vector": [1, 0, 0, 0]},
            "k": 5,
            "filter": {"must": [{"key": "a.' OR 1=1 --", "range": {"lt": 5}}]},
        },
    )
    assert [h["id"] for h in r.json()["results"]] == ["p3"], r.text


@pytest.mark.parametrize(
    ("flt", "where"),
    [
        ({"must": [{"key": 'a"b', "match": {"value": 1}}]}, "must[0].key"),
        ({"must": [{"key": "a", "range": {}}]}, "must[0].range"),
        ({"should": [{"must": [{"key": "a", "range": {}}]}]}, "should[0].must[0].range"),
        ({"must": [{"key": "a", "match": {"value": 2**64}}]}, "must[0].match.value"),
        ({"must": [{"key": "a", "match": {"any": ["x\ud800"]}}]}, "must[0].match.any[0]"),
        ({"must": [{"key": "a\ud800", "match": {"value": 1}}]}, "must[0].key"),
        ({"must": [{"key": "a", "match": {"value": "x\x00"}}]}, "must[0].match.value"),
    ],
)
def test_unusable_conditions_are_422_naming_where(
    client: TestClient, flt: dict[str, Any], where: str
) -> None:
    _make(client, "inj", [{"a": 1}])
    r = _count(client, "inj", flt)
    assert_error(r, 422, "invalid_filter", "filter")
    assert f"at {where}:" in r.json()["message"], r.json()


def test_non_finite_bound_is_refused() -> None:
    col = _collection([{"a": 1.5}])
    with pytest.raises(InvalidFilter, match="finite"):
        col.count({"must": [{"key": "a", "range": {"gt": float("nan")}}]})
    with pytest.raises(InvalidFilter, match="finite"):
        col.count({"must": [{"key": "a", "range": {"lte": float("inf")}}]})


# reference evaluator ------------------------------------------------------------------------
def _resolve(payload: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(present, value) at a dotted key: every dot descends one object level."""
    value: Any = payload
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return value is not None, value


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # True is not 1, 1.0 is not 1


def _holds(cond: dict[str, Any], payload: dict[str, Any]) -> bool:
    if "key" not in cond:
        return reference(cond, payload)
    present, value = _resolve(payload, cond["key"])
    elements = (value if isinstance(value, list) else [value]) if present else []
    if "range" in cond:
        ops = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}
        return any(
            type(e) in (int, float)
            and all(ops[op](float(e), float(b)) for op, b in cond["range"].items())
            for e in elements
        )
    match = cond["match"]
    if "value" in match:
        return any(_same(e, match["value"]) for e in elements)
    if "any" in match:
        return any(_same(e, m) for e in elements for m in match["any"])
    return any(not any(_same(e, m) for m in match["except"]) for e in elements)


def reference(flt: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Qdrant's reading: must all, should at least one (if any given), must_not none."""
    if not all(_holds(c, payload) for c in flt.get("must") or []):
        return False
    if flt.get("should") and not any(_holds(c, payload) for c in flt["should"]):
        return False
    return not any(_holds(c, payload) for c in flt.get("must_not") or [])


def test_reference_reads_filters_as_documented() -> None:
    p = {"a": {"b": [1, "x", None]}, "a.b": 7, "n": None, "o": {}}
    assert reference({"must": [{"key": "a.b", "match": {"value": 1}}]}, p)
    assert not reference({"must": [{"key": "a.b", "match": {"value": 7}}]}, p)
    assert reference({"must": [{"key": "a.b", "match": {"except": [1, 2]}}]}, p)  # the null
    assert not reference({"must": [{"key": "n", "match": {"except": ["z"]}}]}, p)
    assert reference({"must": [{"key": "o", "match": {"except": []}}]}, p)
    assert reference({"should": [{"key": "a.b", "range": {"gt": 0.5}}], "must_not": []}, p)


# fuzz ---------------------------------------------------------------------------------------
HOSTILE = [
    "'", "''", '\\', '\\\\', "\\u0041", "\\n", "--", ";", "/*", "*/", "%", "_", "$", "[0]", "*",
    " ", "\t", "\n", "\x00", "é", "日本", "💥", "\u202e", "OR 1=1", "DROP TABLE points;",
    "SELECT", "NULL", "' OR '1'='1", INJECTION, "char(34)", ")", "(", "a", "b",
]  # fmt: skip
segment = st.one_of(
    st.sampled_from(HOSTILE),
    # lone surrogates are refused outright (test_unusable_conditions_are_422_naming_where)
    st.text(
        st.characters(exclude_characters='."', exclude_categories=["Cs"]), min_size=1, max_size=5
    ),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3).map("".join),
)
# payload keys may hold `"` and literal dots: a filter cannot name the first and must not
# confuse the second with nesting
stored_segment = st.one_of(*[segment] * 8, st.sampled_from(['"', 'a"b', "a.b", ".", ""]))
# Match values may not hold NUL (refused, see above): SQLite 3.40 ends a JSON string at "\u0000",
# so neither filter nor payload strings carry one here; keys do.
strings = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)).filter(lambda t: "\x00" not in t)
ints = st.integers(-3, 3)
quarters = st.integers(-12, 12).map(lambda x: x / 4)  # exact in binary: no rounding at the bounds
matchable = st.one_of(strings, ints, st.booleans())  # match values are never floats
scalars = st.one_of(matchable, quarters)
leaf = st.one_of(scalars, st.none(), st.lists(st.one_of(scalars, st.none()), max_size=3))


@st.composite
def payloads_and_filter(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    paths = draw(st.lists(st.lists(stored_segment, min_size=1, max_size=3), min_size=1, max_size=4))
    payloads = []
    for _ in range(draw(st.integers(3, 8))):
        payload: dict[str, Any] = {}
        for path in paths:
            if draw(st.integers(0, 3)):  # present in most points
                node = payload
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                    if not isinstance(node, dict):
                        break
                else:
                    node[path[-1]] = draw(leaf)
        payloads.append(payload)
    stored_keys = st.sampled_from([".".join(p) for p in paths])
    # mostly keys that are there (to select some points), sometimes any hostile text
    keys = st.one_of(
        stored_keys,
        stored_keys,
        stored_keys,
        st.lists(segment, min_size=1, max_size=3).map(".".join),
    )
    values = [v for p in payloads for v in _leaves(p) if not isinstance(v, float)] or [0]
    known = st.sampled_from(values)
    texts = st.one_of(strings, st.sampled_from([v for v in values if type(v) is str] or ["a"]))
    whole = st.one_of(ints, st.sampled_from([v for v in values if type(v) is int] or [0]))
    condition = st.one_of(
        st.builds(
            lambda k, v: {"key": k, "match": {"value": v}}, keys, st.one_of(known, known, matchable)
        ),
        st.builds(
            lambda k, vs: {"key": k, "match": {"any": vs}},
            keys,
            st.one_of(st.lists(texts, max_size=3), st.lists(whole, max_size=3)),
        ),
        st.builds(
            lambda k, vs: {"key": k, "match": {"except": vs}},
            keys,
            st.one_of(st.lists(texts, max_size=3), st.lists(whole, max_size=3)),
        ),
        st.builds(
            lambda k, b: {"key": k, "range": b},
            keys,
            st.dictionaries(
                st.sampled_from(["gt", "gte", "lt", "lte"]),
                st.one_of(ints, quarters),
                min_size=1,
            ),
        ),
    )
    clause_names = st.sampled_from(["must", "should", "must_not"])
    flt = draw(
        st.recursive(
            st.dictionaries(clause_names, st.lists(condition, min_size=1, max_size=2), min_size=1),
            lambda inner: st.dictionaries(
                clause_names,
                st.lists(st.one_of(condition, inner), min_size=1, max_size=2),
                min_size=1,
            ),
            max_leaves=4,
        )
    )
    return payloads, flt


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for child in node.values() for v in _leaves(child)]
    if isinstance(node, list):
        return [v for v in node if isinstance(v, str | int | float) and v is not None]
    return [node] if isinstance(node, str | int | float) else []


def _conditions(flt: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for clause in ("must", "should", "must_not"):
        for item in flt.get(clause) or []:
            found.extend([item] if "key" in item else _conditions(item))
    return found


def _collection(payloads: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    col = Catalog(Path(tempfile.mkdtemp())).create(CollectionConfig("f", DIM, index_type="flat"))
    vectors = np.random.default_rng(1).normal(size=(len(payloads), DIM)).astype(np.float32)
    col.upsert([f"p{i}" for i in range(len(payloads))], vectors, payloads)
    return col


def _index_step(key: str) -> bool:
    """Qdrant's index step (`l[0]`), refused; other brackets are part of the label."""
    return re.search(r"\[\d+\]", key) is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=payloads_and_filter())
def test_hostile_keys_and_values_filter_exactly(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    payloads, flt = case
    col = _collection(payloads)
    try:
        keys = [c["key"] for c in _conditions(flt)]
        if any('"' in k or not k or _index_step(k) for k in keys):
            with pytest.raises(InvalidFilter, match="double quote|at least 1 character|[0]"):
                col.count(flt)
            return
        expected = {f"p{i}" for i, p in enumerate(payloads) if reference(flt, p)}
        assert col.count(flt) == len(expected)
        hits = col.search(np.ones((1, DIM), np.float32), len(payloads), filter=flt)[0]
        assert {h.id for h in hits} == expected
        # a filtered delete removes exactly those points and nothing else
        assert col.delete_where(flt) == len(expected)
        assert col.count() == len(payloads) - len(expected)
    finally:
        col.store.close()

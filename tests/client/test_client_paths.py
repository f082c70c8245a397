"""The client's paths carry each name as one segment, dot segments included: a payload index
called `..` made httpx resolve `/payload_index/..` to the collection itself, so dropping the
index dropped the collection and every point in it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nestvec.client import BadRequest, Client, NestvecError


@pytest.mark.parametrize("field", ["..", ".", "a..b", "a."])
def test_a_dot_segment_field_never_reaches_the_collection(client: TestClient, field: str) -> None:
    api = Client(http=client)
    api.create_collection("c", dim=2)
    api.upsert("c", [{"id": "a", "vector": [1, 0]}])
    with pytest.raises(BadRequest) as refused:  # no key: refused by the server
        api.create_payload_index("c", field, "keyword")
    assert refused.value.field == "field_name"
    with pytest.raises(NestvecError) as dropped:
        api.delete_payload_index("c", field)
    assert dropped.value.status in (404, 422)
    assert api.count("c") == 1

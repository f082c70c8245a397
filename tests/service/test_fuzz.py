"""schemathesis against the live server's own OpenAPI document: no 5xx, answers as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    data: Path = tmp_path_factory.mktemp("fuzz")
    # the fake encoder behind TEI's routes too: the fuzz is about the API, not the model
    server = LiveServer(data, env={"NESTVEC_DEFAULT_ENCODER": "fake"}).start()
    body = {"name": "docs", "encoder": "fake", "index": {"type": "hnsw"}}
    httpx.post(server.url + "/v1/collections", json=body).raise_for_status()
    points = {"points": [{"id": "a", "text": "hello world", "payload": {"n": 1}}]}
    httpx.put(server.url + "/v1/collections/docs/points", json=points).raise_for_status()
    # the first rerank loads its model: past the fuzz client's 10 s on a loaded machine
    rerank = {"query": "warm", "texts": ["up"]}
    httpx.post(server.url + "/rerank", json=rerank, timeout=300).raise_for_status()
    yield schemathesis.openapi.from_url(server.url + "/openapi.json")
    server.stop()


def test_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, a bounded number of generated requests each."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        call()

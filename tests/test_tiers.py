"""The slow/fast split of conftest's SLOW table: every entry names a real test, and matching is
by whole file or whole test name, never by a prefix of one."""

from __future__ import annotations

import ast

import pytest
from conftest import SLOW, slow_reason
from support import ROOT


@pytest.mark.parametrize("entry", sorted(SLOW))
def test_every_slow_entry_names_a_test_that_exists(entry: str) -> None:
    path, _, name = entry.partition("::")
    assert (ROOT / path).exists(), f"{path} is gone: move or drop its SLOW entry"
    if name:
        tree = ast.parse((ROOT / path).read_text())
        tests = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in tests, f"{entry}: no such test"


@pytest.mark.parametrize(
    ("nodeid", "slow"),
    [
        ("tests/face/test_encoder.py::test_x", True),
        ("tests/service/test_batching.py::test_x[a-b]", True),
        ("tests/service/test_api.py::test_text_search_ranks_by_meaning[flat]", True),
        ("tests/service/test_api.py::test_embed_contract", False),
        ("tests/service/test_api_indexes.py::test_x", False),  # not test_api.py
        ("tests/ingest/test_build.py::test_x", False),
    ],
)
def test_matching_is_by_whole_name(nodeid: str, slow: bool) -> None:
    assert (slow_reason(nodeid) is not None) == slow

"""The README's table of index backends states each build parameter's default: it must be the
code's (it said nprobe 16 where the code used 32)."""

from __future__ import annotations

import re

import pytest
from support import ROOT

from index.registry import index_class

ROW = re.compile(r"^\| `([\w-]+)` \| [^|]+ \| ([^|]+) \|", re.MULTILINE)
NUMERIC = re.compile(r"`(\w+)` \(([\d.]+)\)")


def _stated() -> dict[str, dict[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Index backends and encoders", 1)[1].strip().split("\n\n", 1)[0]
    return {kind: dict(NUMERIC.findall(params)) for kind, params in ROW.findall(table)}


@pytest.mark.parametrize("kind", ["hnsw", "faiss-hnsw", "ivf", "ivfpq"])
def test_the_readme_states_the_code_defaults(kind: str) -> None:
    stated = _stated()[kind]
    assert stated, f"no defaults found for {kind}"
    fields = index_class(kind).Params.model_fields
    for name, value in stated.items():
        assert float(value) == fields[name].default, (kind, name, value, fields[name].default)

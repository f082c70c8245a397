"""Edge lists for graph encoders: `--edges FILE` gives every node its neighbours from the file.

The edge list is read with the same readers as node tables (CSV/TSV, JSONL, Parquet): the
`source` and `target` fields, or else the first two columns. Edges are undirected. It is loaded
once per process (worker processes and Ray actors each load their own copy).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.errors import BadInput
from ingest.readers import reader_for


@lru_cache(maxsize=2)
def adjacency(path: str) -> dict[str, list[str]]:
    """Node id -> sorted neighbour ids, both directions of every edge."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for row in reader_for(Path(path)).rows(Path(path)):
        if row.fields is None:
            raise BadInput(f"{row.where}: {row.error}", "edges")
        fields = row.fields
        pair = (
            (fields["source"], fields["target"])
            if "source" in fields and "target" in fields
            else tuple(fields.values())[:2]
        )
        if len(pair) != 2 or any(v is None or v == "" for v in pair):
            raise BadInput(f"{row.where}: an edge needs a source and a target", "edges")
        a, b = (str(v) for v in pair)
        if a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    return {node: sorted(nbrs) for node, nbrs in neighbours.items()}


def with_edges(nodes: list[Any], path: str) -> list[dict[str, Any]]:
    """Each node id as `{"id": node, "edges": [its neighbours in the file]}`."""
    adj = adjacency(path)
    return [{"id": node, "edges": adj.get(str(node), [])} for node in nodes]

"""Graph data: a node table, an undirected edge list and node features; the held-out edge split.

Everything here is numpy/scipy; node ids are strings as the node table writes them, rows are
positions in that table. Adjacency is CSR with sorted neighbours (the sampler relies on it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Graph:
    """Nodes (ids, optional labels/splits/text), features (n, f) and undirected edges (e, 2)."""

    ids: list[str]
    features: np.ndarray
    edges: np.ndarray
    labels: np.ndarray | None = None
    splits: list[str] | None = None
    text: list[str] | None = None
    row_of: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.row_of = {node: i for i, node in enumerate(self.ids)}

    @property
    def n(self) -> int:
        return len(self.ids)


def read_nodes(path: Path, id_field: str = "node") -> list[dict[str, str]]:
    """Rows of a node table (CSV with a header)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and id_field not in rows[0]:
        raise ValueError(f"{path.name}: no {id_field!r} column (columns: {', '.join(rows[0])})")
    return rows


def read_edges(path: Path, row_of: dict[str, int]) -> np.ndarray:
    """Undirected edges as unique (min, max) row pairs; self-loops dropped."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader, None)
        pairs = []
        for line, (a, b, *_rest) in enumerate(reader, 2):
            if a not in row_of or b not in row_of:
                raise ValueError(f"{path.name} line {line}: edge to an unknown node")
            pairs.append((row_of[a], row_of[b]))
    return unique_edges(np.asarray(pairs, dtype=np.int64).reshape(-1, 2))


def unique_edges(pairs: np.ndarray) -> np.ndarray:
    """Each undirected edge once as (min, max), sorted, without self-loops."""
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    keep = lo != hi
    return np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0)


def load_planetoid(folder: Path, text_field: str | None = None) -> Graph:
    """The Planetoid Cora folder: nodes.csv (node,label,split), edges.csv, features.npz (CSR);
    `text_field` names a node-table column of node text (for text features)."""
    import scipy.sparse as sp

    rows = read_nodes(folder / "nodes.csv")
    ids = [r["node"] for r in rows]
    features = sp.load_npz(folder / "features.npz").toarray().astype(np.float32)
    if features.shape[0] != len(ids):
        raise ValueError(f"{folder}: {features.shape[0]} feature rows for {len(ids)} nodes")
    graph = Graph(ids, features, np.empty((0, 2), np.int64))
    graph.edges = read_edges(folder / "edges.csv", graph.row_of)
    graph.labels = np.asarray([int(r["label"]) for r in rows], dtype=np.int64)
    graph.splits = [r["split"] for r in rows]
    if text_field is not None:
        if rows and text_field not in rows[0]:
            raise ValueError(f"{folder / 'nodes.csv'}: no {text_field!r} column for node text")
        graph.text = [r[text_field] for r in rows]
    return graph


def csr(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric CSR (indptr, indices) of undirected edges, neighbours sorted within a row."""
    both = np.concatenate([edges, edges[:, ::-1]]) if len(edges) else edges.reshape(0, 2)
    order = np.lexsort((both[:, 1], both[:, 0]))
    src, dst = both[order, 0], both[order, 1]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    return np.cumsum(indptr), dst.astype(np.int64)


@dataclass(frozen=True)
class EdgeSplit:
    """Training edges and held-out edges (both directions of a held-out edge are held out)."""

    train: np.ndarray
    held_out: np.ndarray
    seed: int
    fraction: float


def split_edges(edges: np.ndarray, fraction: float, seed: int) -> EdgeSplit:
    """Hold out `fraction` of the undirected edges at random."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(edges))
    cut = int(round(fraction * len(edges)))
    held, train = np.sort(perm[:cut]), np.sort(perm[cut:])
    return EdgeSplit(edges[train], edges[held], seed, fraction)


def drop_nodes(edges: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edges between kept nodes, edges touching `nodes`): the inductive split's two parts."""
    touched = np.isin(edges, nodes).any(axis=1)
    return edges[~touched], edges[touched]

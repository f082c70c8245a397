"""PinSage's neighbourhoods: short random walks from a node, top-T nodes by normalised visit count.

Vectorised over every walker at once (numpy). The random numbers are counter-based (a hash of the
start node's key, the walk number and the step), and a start node's key hashes its first-hop set,
so a node's neighbourhood does not depend on which batch it was computed in, and a new node given
the same edges as a known one gets exactly the same walks (inductive == transductive). Walks
that come back to the start count it like any other node: a self-loop, as in GCN's A + I, which
is also what keeps that equality exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_WALK = np.uint64(0xD1B54A32D192ED03)
_STEP = np.uint64(0xABC98388FB8FAC03)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A good 64-bit mix of each element (uint64 in, uint64 out; wraps on purpose)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def start_keys(indptr: np.ndarray, indices: np.ndarray, seed: int) -> np.ndarray:
    """One key per row, from the set of its first-hop nodes (order-free sum of hashes)."""
    with np.errstate(over="ignore"):
        hashed = splitmix64(indices.astype(np.uint64))
        sums = np.concatenate([[np.uint64(0)], np.cumsum(hashed, dtype=np.uint64)])
        per_row = sums[indptr[1:]] - sums[indptr[:-1]]
        return splitmix64(per_row + np.uint64(seed))


@dataclass(frozen=True)
class WalkConfig:
    """Walks per node, steps per walk (a restart after each walk), neighbourhood size T."""

    walks: int = 200
    length: int = 3
    top_t: int = 16
    seed: int = 0


def visit_counts(
    first_ptr: np.ndarray,
    first_idx: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    cfg: WalkConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visits of walks from B start nodes: (start row, node, count) triples, sorted by row.

    `first_ptr/first_idx` give each start's first hops (CSR over starts); later steps follow the
    graph `indptr/indices` (sorted neighbours). A walk that reaches a node without edges stops.
    """
    b, n = len(first_ptr) - 1, len(indptr) - 1
    keys = start_keys(first_ptr, first_idx, cfg.seed)
    start = np.repeat(np.arange(b), cfg.walks)
    walk = np.tile(np.arange(cfg.walks, dtype=np.uint64), b)
    base = keys[start] ^ (walk * _WALK)
    lo, deg = first_ptr[start], first_ptr[start + 1] - first_ptr[start]
    hops, alive = first_idx, deg > 0
    visited = []
    for step in range(1, cfg.length + 1):
        with np.errstate(over="ignore"):
            r = splitmix64(base ^ (np.uint64(step) * _STEP))
        pick = (r % np.maximum(deg, 1).astype(np.uint64)).astype(np.int64)
        cur = np.where(alive, hops[np.where(alive, lo + pick, 0)] if len(hops) else 0, -1)
        visited.append(np.where(alive, start * n + cur, -1))
        lo, deg = (
            indptr[np.maximum(cur, 0)],
            indptr[np.maximum(cur, 0) + 1] - indptr[np.maximum(cur, 0)],
        )
        hops, alive = indices, alive & (deg > 0)
    flat = np.concatenate(visited)
    keys_seen, counts = np.unique(flat[flat >= 0], return_counts=True)
    return keys_seen // n, keys_seen % n, counts


def top_t(
    rows: np.ndarray, nodes: np.ndarray, counts: np.ndarray, b: int, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per start: the T most visited nodes (ties to the lower row) and their normalised counts.

    Returns (b, t) node rows and weights; a start with fewer than T visited nodes is padded with
    node 0 at weight 0, which importance pooling ignores.
    """
    order = np.lexsort((nodes, -counts, rows))
    rows, nodes, counts = rows[order], nodes[order], counts[order]
    first = np.searchsorted(rows, np.arange(b))
    rank = np.arange(len(rows)) - first[rows]
    totals = np.bincount(rows, weights=counts, minlength=b)
    keep = rank < t
    idx = np.zeros((b, t), dtype=np.int64)
    weight = np.zeros((b, t), dtype=np.float32)
    idx[rows[keep], rank[keep]] = nodes[keep]
    weight[rows[keep], rank[keep]] = counts[keep] / totals[rows[keep]]
    return idx, weight


def neighbourhoods(
    first_ptr: np.ndarray,
    first_idx: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    cfg: WalkConfig,
    chunk: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-T neighbourhoods (idx, weight) of B start nodes, computed `chunk` starts at a time."""
    b = len(first_ptr) - 1
    idx = np.zeros((b, cfg.top_t), dtype=np.int64)
    weight = np.zeros((b, cfg.top_t), dtype=np.float32)
    for s in range(0, b, chunk):
        e = min(b, s + chunk)
        ptr = first_ptr[s : e + 1] - first_ptr[s]
        hops = first_idx[first_ptr[s] : first_ptr[e]]
        rows, nodes, counts = visit_counts(ptr, hops, indptr, indices, cfg)
        idx[s:e], weight[s:e] = top_t(rows, nodes, counts, e - s, cfg.top_t)
    return idx, weight


def graph_neighbourhoods(
    indptr: np.ndarray, indices: np.ndarray, cfg: WalkConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbourhood table of every node of a graph (each node's first hops are its edges)."""
    return neighbourhoods(indptr, indices, indptr, indices, cfg)


def ragged(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """CSR (ptr, idx) of a list of neighbour lists, each made unique and sorted."""
    cleaned = [np.unique(np.asarray(x, dtype=np.int64)) for x in lists]
    ptr = np.concatenate([[0], np.cumsum([len(x) for x in cleaned])]).astype(np.int64)
    idx = np.concatenate(cleaned) if cleaned else np.empty(0, np.int64)
    return ptr, idx.astype(np.int64)

"""The random-walk neighbourhood sampler and importance pooling, against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoders.graph.data import csr
from encoders.graph.model import importance_pool
from encoders.graph.sampler import WalkConfig, graph_neighbourhoods, neighbourhoods, ragged, top_t

STAR = np.array([[0, 1], [0, 2], [0, 3]])  # centre 0, leaves 1..3
PATH = np.array([[0, 1], [1, 2], [2, 3]])  # 0 - 1 - 2 - 3


def test_star_from_a_leaf_visits_the_centre_on_every_first_step() -> None:
    # From leaf 1, step 1 must go to 0 (W visits of 4W... of 2W in all); step 2 picks a leaf
    # uniformly, so the centre's normalised count is exactly 1/2 and each leaf's is near 1/6.
    indptr, indices = csr(4, STAR)
    cfg = WalkConfig(walks=6000, length=2, top_t=4, seed=3)
    idx, w = graph_neighbourhoods(indptr, indices, cfg)
    assert idx[1, 0] == 0 and w[1, 0] == pytest.approx(0.5, abs=1e-7)
    leaves = dict(zip(idx[1, 1:].tolist(), w[1, 1:].tolist(), strict=True))
    assert set(leaves) == {1, 2, 3}
    assert all(abs(v - 1 / 6) < 0.02 for v in leaves.values())
    assert w[1].sum() == pytest.approx(1.0, abs=1e-6)


def test_path_visit_shares_and_top_t() -> None:
    # Walks of 3 steps from node 0 of the path 0-1-2-3, per walk in expectation:
    # node 1: 1 + 1/2 + 1/4 = 1.75, node 0: 1/2, node 2: 1/2, node 3: 1/4 (of 3 visits).
    indptr, indices = csr(4, PATH)
    expected = {1: 1.75 / 3, 0: 0.5 / 3, 2: 0.5 / 3, 3: 0.25 / 3}
    cfg = WalkConfig(walks=20000, length=3, top_t=4, seed=0)
    idx, w = graph_neighbourhoods(indptr, indices, cfg)
    got = dict(zip(idx[0].tolist(), w[0].tolist(), strict=True))
    assert got.keys() == expected.keys()
    assert all(abs(got[k] - v) < 0.01 for k, v in expected.items()), got
    assert idx[0, 0] == 1 and idx[0, 3] == 3  # most and least visited
    top1, w1 = graph_neighbourhoods(indptr, indices, WalkConfig(20000, 3, 1, 0))
    assert top1[0].tolist() == [1] and w1[0, 0] == pytest.approx(got[1], abs=1e-6)


def test_top_t_orders_by_count_breaks_ties_by_row_and_pads() -> None:
    rows = np.array([0, 0, 0, 0, 1])
    nodes = np.array([5, 2, 9, 7, 3])
    counts = np.array([1, 4, 4, 2, 2])
    idx, w = top_t(rows, nodes, counts, b=3, t=3)
    assert idx.tolist() == [[2, 9, 7], [3, 0, 0], [0, 0, 0]]
    np.testing.assert_allclose(w, [[4 / 11, 4 / 11, 2 / 11], [1, 0, 0], [0, 0, 0]], rtol=1e-6)


def test_a_new_node_with_a_known_nodes_edges_gets_its_neighbourhood() -> None:
    rng = np.random.default_rng(0)
    edges = np.unique(np.sort(rng.integers(0, 60, size=(200, 2)), axis=1), axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    indptr, indices = csr(60, edges)
    cfg = WalkConfig(walks=50, length=3, top_t=6, seed=1)
    idx, w = graph_neighbourhoods(indptr, indices, cfg)
    nodes = [4, 17, 33]
    shuffled = [rng.permutation(indices[indptr[v] : indptr[v + 1]]) for v in nodes]
    ptr, hops = ragged(shuffled)  # order and batch do not matter
    new_idx, new_w = neighbourhoods(ptr, hops, indptr, indices, cfg)
    np.testing.assert_array_equal(new_idx, idx[nodes])
    np.testing.assert_array_equal(new_w, w[nodes])


def test_importance_pooling_is_the_weighted_mean() -> None:
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(5, 4, 3, generator=gen)
    w = torch.rand(5, 4, generator=gen)
    w[2] = 0.0  # no neighbours: pools to zero
    w[3, 1:] = 0.0  # one neighbour: pools to it
    pooled = importance_pool(h, w)
    for b in (0, 1, 4):
        manual = sum(w[b, t] * h[b, t] for t in range(4)) / w[b].sum()
        torch.testing.assert_close(pooled[b], manual)
    torch.testing.assert_close(pooled[2], torch.zeros(3))
    torch.testing.assert_close(pooled[3], h[3, 0])

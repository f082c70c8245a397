"""Input propagation (SGC's last hop, personalised PageRank's weighted hops): training-graph
only, self-describing, and exact on the inductive path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from support import DATA

from encoders.graph.artifact import load, load_split
from encoders.graph.data import csr, load_planetoid
from encoders.graph.encoder import GraphEncoder
from encoders.graph.features import unit_rows
from encoders.graph.propagation import hop_stack, hop_weights, model_input, propagate_new

CORA = DATA / "cora_planetoid"


def test_a_new_node_with_a_known_nodes_edges_gets_its_propagated_row() -> None:
    graph = load_planetoid(CORA)
    indptr, indices = csr(graph.n, graph.edges)
    x = unit_rows(graph.features)
    stack = hop_stack(x, indptr, indices, 2)
    nodes = np.array([0, 7, 1358, 1701, 2500])
    edges = [indices[indptr[v] : indptr[v + 1]] for v in nodes]
    got = propagate_new(x[nodes], edges, stack, indptr)
    np.testing.assert_allclose(got, model_input(stack)[nodes], atol=1e-6)
    # dense reference: (D^-1/2 (A + I) D^-1/2)^2 X, rows normalised
    a = sp.coo_matrix((np.ones(len(graph.edges)), graph.edges.T), shape=(graph.n, graph.n))
    a = (a + a.T + sp.eye(graph.n)).toarray()
    d = a.sum(1) ** -0.5
    s = d[:, None] * a * d[None, :]
    np.testing.assert_allclose(model_input(stack), unit_rows(s @ (s @ x)), atol=1e-5)


def test_pagerank_weighted_hops_are_exact_for_a_new_node_too() -> None:
    graph = load_planetoid(CORA)
    indptr, indices = csr(graph.n, graph.edges)
    x = unit_rows(graph.features)
    stack, weights = hop_stack(x, indptr, indices, 4), hop_weights(4, 0.35)
    nodes = np.array([0, 7, 1358, 1701, 2500])
    edges = [indices[indptr[v] : indptr[v + 1]] for v in nodes]
    known = model_input(stack, weights)
    np.testing.assert_allclose(
        propagate_new(x[nodes], edges, stack, indptr, weights), known[nodes], atol=1e-6
    )
    # dense reference: sum over k of alpha (1 - alpha)^k S^k X, rows normalised
    a = sp.coo_matrix((np.ones(len(graph.edges)), graph.edges.T), shape=(graph.n, graph.n))
    a = (a + a.T + sp.eye(graph.n)).toarray()
    d = a.sum(1) ** -0.5
    s, hop, total = d[:, None] * a * d[None, :], x.astype(np.float64), 0.35 * x
    for k in range(1, 5):
        hop = s @ hop
        total = total + 0.35 * 0.65**k * hop
    np.testing.assert_allclose(known, unit_rows(total), atol=1e-5)
    # SGC is the last hop alone
    np.testing.assert_allclose(hop_weights(3, None), [0, 0, 0, 1])


def test_an_isolated_new_node_keeps_its_own_features() -> None:
    x = unit_rows(np.eye(3, dtype=np.float32))
    indptr, indices = csr(3, np.array([[0, 1]]))
    stack = hop_stack(x, indptr, indices, 3)
    got = propagate_new(np.array([[0.0, 0.0, 2.0]]), [np.empty(0, np.int64)], stack, indptr)
    np.testing.assert_allclose(got, [[0.0, 0.0, 1.0]], atol=1e-7)


def test_the_artifact_names_its_propagation_and_uses_the_training_edges_only(
    graph_models: Path,
) -> None:
    folder = graph_models / "graph-cora"
    meta = json.loads((folder / "graph.json").read_text())
    hops, alpha = meta["propagation"]["hops"], meta["propagation"]["alpha"]
    assert meta["propagation"]["kind"] == ("sgc" if alpha is None else "ppr") and hops >= 1
    weights = hop_weights(hops, alpha)
    art = load(folder)
    train = load_split(folder)["train"]
    raw = unit_rows(sp.load_npz(CORA / "features.npz").toarray())
    np.testing.assert_allclose(art.table.raw, raw, atol=1e-7)
    indptr, indices = csr(len(raw), train)
    expected = model_input(hop_stack(raw, indptr, indices, hops), weights)
    np.testing.assert_allclose(art.table.features, expected, atol=1e-6)
    graph = load_planetoid(CORA)
    indptr, indices = csr(graph.n, graph.edges)  # with the held-out edges: must differ
    leaked = model_input(hop_stack(raw, indptr, indices, hops), weights)
    assert np.abs(art.table.features - leaked).max() > 1e-3


@pytest.fixture(scope="module")
def encoder(graph_models: Path) -> GraphEncoder:
    return GraphEncoder(models_dir=graph_models)


def test_inductive_embeddings_equal_transductive_through_the_propagated_input(
    encoder: GraphEncoder, graph_models: Path
) -> None:
    raw = sp.load_npz(CORA / "features.npz").toarray()
    train = load_split(graph_models / "graph-cora")["train"]
    nodes = [3, 42, 999, 2000]
    edges = [
        [int(u) for u in np.r_[train[train[:, 0] == v, 1], train[train[:, 1] == v, 0]]]
        for v in nodes
    ]
    known = encoder.encode(nodes)
    by_features = encoder.encode(
        [{"features": raw[v].tolist(), "edges": e} for v, e in zip(nodes, edges, strict=True)]
    )
    by_id = encoder.encode([{"id": v, "edges": e} for v, e in zip(nodes, edges, strict=True)])
    np.testing.assert_allclose(by_features, known, atol=1e-5)
    np.testing.assert_allclose(by_id, known, atol=1e-5)
    # the same edges but other own features: the propagated input really carries them
    other = encoder.encode([{"features": raw[nodes[1]].tolist(), "edges": edges[0]}])
    assert float(other[0] @ known[0]) < 0.9999

"""The trained graph-cora encoder: artifact, transductive vs inductive embeddings, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from support import DATA

from encoders.errors import ArtifactMissing, InvalidInput
from encoders.graph.artifact import load_split
from encoders.graph.encoder import GraphEncoder

CORA = DATA / "cora_planetoid"


@pytest.fixture(scope="module")
def encoder(graph_models: Path) -> GraphEncoder:
    return GraphEncoder(models_dir=graph_models)


def test_the_artifact_describes_itself(graph_models: Path) -> None:
    meta = json.loads((graph_models / "graph-cora" / "graph.json").read_text())
    assert meta["graph"]["nodes"] == 2708 and meta["graph"]["edges"] == 5278
    assert meta["graph"]["held_out_edges"] == 528  # 10% of 5,278
    assert meta["features"] == {"kind": "bow", "dim": 1433}
    assert meta["split"]["seed"] == 0 and meta["model"]["dim"] == 128
    split = load_split(graph_models / "graph-cora")
    train = {tuple(e) for e in split["train"].tolist()}
    assert not train & {tuple(e) for e in split["held_out"].tolist()}


def test_missing_artifact_names_the_training_command(tmp_path: Path) -> None:
    with pytest.raises(ArtifactMissing, match="nestvec train graph"):
        GraphEncoder(models_dir=tmp_path)


def test_inductive_embedding_equals_transductive_with_the_same_edges(
    encoder: GraphEncoder, graph_models: Path
) -> None:
    raw = sp.load_npz(CORA / "features.npz").toarray()
    train = load_split(graph_models / "graph-cora")["train"]
    nodes = [0, 7, 1701, 2500]
    known = encoder.encode(nodes)
    new = [
        {
            "features": raw[v].tolist(),
            "edges": [
                int(u) for u in np.r_[train[train[:, 0] == v, 1], train[train[:, 1] == v, 0]]
            ],
        }
        for v in nodes
    ]
    inductive = encoder.encode(new)
    np.testing.assert_allclose(inductive, known, atol=1e-5)
    # other edges give another embedding: the edges are really used
    moved = encoder.encode([{"features": raw[0].tolist(), "edges": [100, 200]}])
    assert float(moved[0] @ known[0]) < 0.999


def test_ids_as_int_or_str_and_unit_norm(encoder: GraphEncoder) -> None:
    v = encoder.encode([5, "5", {"id": 5, "edges": [1, 2]}])
    np.testing.assert_allclose(v[0], v[1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v.shape == (3, 128) and v.dtype == np.float32


def test_an_id_object_without_edges_is_the_known_node(encoder: GraphEncoder) -> None:
    """`{"id": 1701}` is node 1701 over its trained edges, as `1701` is (it was embedded as an
    isolated node: cosine 0.51 to itself); explicit `"edges": []` still isolates it."""
    v = encoder.encode([1701, {"id": 1701}, {"id": "1701"}, {"id": 1701, "edges": []}])
    np.testing.assert_allclose(v[1], v[0], atol=1e-6)
    np.testing.assert_allclose(v[2], v[0], atol=1e-6)
    assert float(v[3] @ v[0]) < 0.99


def test_a_self_loop_in_given_edges_is_left_out_as_in_training(encoder: GraphEncoder) -> None:
    """Training graphs drop self-loops; a node's link to itself walked into its own
    neighbourhood (cosine 0.84 to the same node without it)."""
    v = encoder.encode([{"id": 5, "edges": [5]}, {"id": 5, "edges": []}])
    np.testing.assert_allclose(v[0], v[1], atol=1e-6)
    w = encoder.encode([{"id": 5, "edges": [5, 1, 2]}, {"id": 5, "edges": [1, 2]}])
    np.testing.assert_allclose(w[0], w[1], atol=1e-6)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("9999", "inputs[1]"),
        (True, "inputs[1]"),
        ({"features": [0.0] * 1433, "edges": [1, 99999]}, "inputs[1].edges[1]"),
        ({"features": [0.0] * 10, "edges": [1]}, "inputs[1].features"),
        ({"features": [0.0] * 1433, "edges": 3}, "inputs[1].edges"),
        ({"edges": [1]}, "inputs[1]"),
        ({"text": "a paper", "edges": [1]}, "inputs[1]"),
    ],
)
def test_bad_inputs_name_their_field(encoder: GraphEncoder, item: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        encoder.encode([1, item])
    assert info.value.field == field

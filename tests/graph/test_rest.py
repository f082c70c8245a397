"""graph-cora over REST: embed by id or as a new node, 4xx for bad nodes, 409 when untrained,
and an offline build of Cora searched by node id."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient
from support import DATA, ROOT, assert_error

from encoders.graph.encoder import GraphEncoder

CORA = DATA / "cora_planetoid"


@pytest.fixture
def graph_client(make_client: Callable[..., TestClient], graph_models: Path) -> TestClient:
    return make_client(models_dir=graph_models)


def test_embed_known_and_new_nodes(graph_client: TestClient) -> None:
    raw = sp.load_npz(CORA / "features.npz")[3].toarray()[0].tolist()
    body = {"encoder": "graph-cora", "inputs": [3, "3", {"features": raw, "edges": [0, 1]}]}
    r = graph_client.post("/v1/embed", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dim"] == 128 and len(out["embeddings"]) == 3
    v = np.asarray(out["embeddings"])
    np.testing.assert_allclose(v[0], v[1], atol=1e-6)
    listed = {e["name"]: e for e in graph_client.get("/v1/encoders").json()["encoders"]}
    assert listed["graph-cora"]["modality"] == "graph"
    assert listed["graph-cora"]["artifact"]["available"] is True


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ([1, "no-such-paper"], "inputs[1]"),
        ([{"features": [0.0] * 1433, "edges": [5, 123456]}], "inputs[0].edges[1]"),
        ([{"features": [1.0, 0.0], "edges": [5]}], "inputs[0].features"),
    ],
)
def test_bad_nodes_are_422(graph_client: TestClient, inputs: list, field: str) -> None:
    r = graph_client.post("/v1/embed", json={"encoder": "graph-cora", "inputs": inputs})
    assert_error(r, 422, "invalid_input", field)


def test_a_node_id_past_64_bits_is_unknown_not_a_float(graph_client: TestClient) -> None:
    """JSON reads such an integer as a float: it said "not float" of the integer sent."""
    body = b'{"encoder": "graph-cora", "inputs": [18446744073709551616]}'
    r = graph_client.post("/v1/embed", content=body, headers={"content-type": "application/json"})
    assert_error(r, 422, "invalid_input", "inputs[0]")
    assert "unknown node id 18446744073709551616" in r.json()["message"], r.text


def test_untrained_is_409_naming_the_command(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """The command names the models dir the server reads (it said to pass --data-dir, which
    does not reach a NESTVEC_MODELS_DIR elsewhere)."""
    models = tmp_path / "elsewhere"
    r = make_client(models_dir=models).post(
        "/v1/embed", json={"encoder": "graph-cora", "inputs": [1]}
    )
    assert_error(r, 409, "model_not_trained")
    assert f"nestvec train graph --models-dir {models}" in r.json()["message"]


def test_points_and_search_take_node_inputs(graph_client: TestClient) -> None:
    body = {"name": "papers", "encoder": "graph-cora"}
    assert graph_client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": str(n), "input": n} for n in range(50)]
    r = graph_client.put("/v1/collections/papers/points", json={"points": points})
    assert r.json() == {"upserted": 50}
    r = graph_client.post("/v1/collections/papers/search", json={"query": {"input": 7}, "k": 3})
    assert r.json()["results"][0]["id"] == "7"
    bad = {"query": {"input": {"features": [0.0] * 1433, "edges": ["x"]}}, "k": 3}
    r = graph_client.post("/v1/collections/papers/search", json=bad)
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"


def test_a_name_only_fingerprint_recorded_by_older_versions_adopts_the_served_model(
    graph_client: TestClient,
) -> None:
    """graph-cora once served the hash of its name alone; collections that recorded it keep
    working (their vectors came from the same artifact), and record the served model."""
    from encoders.artifacts import fingerprint
    from index.reencode import record_fingerprint

    body = {"name": "old", "encoder": "graph-cora"}
    assert graph_client.post("/v1/collections", json=body).status_code == 201
    engine = graph_client.app_state["engine"]  # type: ignore[attr-defined]
    collection = engine.catalog.get("old")
    served = collection.config.encoder_fingerprint
    assert served is not None
    record_fingerprint(collection, fingerprint("encoder:graph-cora"))
    r = graph_client.put("/v1/collections/old/points", json={"points": [{"id": "7", "input": 7}]})
    assert r.json() == {"upserted": 1}, r.text
    assert engine.catalog.get("old").config.encoder_fingerprint == served
    record_fingerprint(collection, "0123456789abcdef")  # any other model is still refused
    r = graph_client.post("/v1/collections/old/search", json={"query": {"input": 7}})
    assert_error(r, 409, "encoder_changed")


def ingest_nodes(
    source: Path, data: Path, models: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    """`nestvec ingest` of a node file into graph-cora collection `cora` (a subprocess)."""
    cmd = [str(Path(sys.executable).parent / "nestvec"), "ingest", str(source), "--collection"]
    cmd += ["cora", "--encoder", "graph-cora", "--id-field", "node", "--data-dir", str(data)]
    env = {"NESTVEC_MODELS_DIR": str(models), "PATH": str(Path(sys.executable).parent)}
    cmd += ["--no-progress", *more]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_offline_build_of_cora_then_papers_like_this_one(
    make_client: Callable[..., TestClient], graph_models: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    done = ingest_nodes(CORA / "nodes.csv", data, graph_models, "--edges", str(CORA / "edges.csv"))
    assert done.returncode == 0, done.stderr[-3000:]
    client = make_client(data_dir=data, models_dir=graph_models)
    assert client.get("/v1/collections/cora").json()["count"] == 2708
    labels = np.loadtxt(CORA / "nodes.csv", delimiter=",", skiprows=1, usecols=1, dtype=np.int64)
    # oracle: brute-force cosine over the encoder's own vectors of every node with its full edges
    edges = np.loadtxt(CORA / "edges.csv", delimiter=",", skiprows=1, dtype=np.int64)
    adj: dict[int, list[int]] = {n: [] for n in range(2708)}
    for a, b in edges:
        adj[int(a)].append(int(b))
        adj[int(b)].append(int(a))
    vectors = GraphEncoder(models_dir=graph_models).encode(
        [{"id": n, "edges": adj[n]} for n in range(2708)]
    )
    recall, same = [], []
    for node in range(0, 2708, 135):
        query = {"query": {"id": str(node)}, "k": 10, "with_payload": True}
        r = client.post("/v1/collections/cora/search", json=query)
        assert r.status_code == 200, r.text
        hits = r.json()["results"]
        assert len(hits) == 10 and str(node) not in {h["id"] for h in hits}
        assert set(hits[0]["payload"]) == {"label", "split"}
        scores = vectors @ vectors[node]
        scores[node] = -np.inf
        exact = {str(i) for i in np.argsort(-scores)[:10]}
        recall.append(len(exact & {h["id"] for h in hits}) / 10)
        mine = str(int(labels[node]))
        same.append(np.mean([h["payload"]["label"] == mine for h in hits]))
    assert np.mean(recall) >= 0.9, recall
    # the served model is the one ingest recorded: node inputs search and write (not 409)
    r = client.post("/v1/collections/cora/search", json={"query": {"input": 1701}, "k": 3})
    assert r.status_code == 200 and r.json()["results"][0]["id"] == "1701", r.text
    r = client.put("/v1/collections/cora/points", json={"points": [{"id": "x", "input": 5}]})
    assert r.json() == {"upserted": 1}, r.text
    # related papers share the query's subject more often than two random papers (~0.18)
    assert np.mean(same) > 0.25, same


@pytest.mark.parametrize("scale", [1e38, 1e39, 1e300])
def test_huge_features_keep_their_direction(graph_client: TestClient, scale: float) -> None:
    """Past float32's range (or where its squares are), features still give the node of their
    direction: never NaN (stored and answered as null) nor the zero-features node."""
    raw = sp.load_npz(CORA / "features.npz")[3].toarray()[0].astype(np.float64)
    inputs = [{"features": raw.tolist()}, {"features": (raw * scale).tolist()}]
    r = graph_client.post("/v1/embed", json={"encoder": "graph-cora", "inputs": inputs})
    assert r.status_code == 200, r.text
    v = np.asarray(r.json()["embeddings"], dtype=np.float64)
    assert np.isfinite(v).all()
    np.testing.assert_allclose(v[1], v[0], atol=1e-5)


def test_a_collection_never_stores_a_non_finite_vector(tmp_path: Path) -> None:
    from index import Catalog, CollectionConfig

    collection = Catalog(tmp_path).create(CollectionConfig(name="c", dim=2, metric="l2"))
    bad = np.array([[1.0, 2.0], [np.nan, 0.0]], np.float32)
    with pytest.raises(Exception) as caught:
        collection.upsert(["a", "b"], bad, [{}, {}])
    assert getattr(caught.value, "code", None) == "non_finite_vector"
    assert "'b'" in str(caught.value) and collection.count() == 0


@pytest.mark.parametrize(
    "where", [("--workers", "1"), ("--workers", "2"), ("--ray-address", "local")], ids=str
)
def test_an_unknown_node_in_an_offline_build_is_skipped_with_its_line(
    graph_models: Path, tmp_path: Path, where: tuple[str, str]
) -> None:
    """It ended the build, and every resume met it again: the build could never finish (on Ray
    it failed the whole job)."""
    if where[0] == "--ray-address":
        pytest.importorskip("ray")
    lines = (CORA / "nodes.csv").read_text().splitlines()
    source = tmp_path / "nodes.csv"
    source.write_text("\n".join([*lines[:101], "999999,1,train", *lines[101:200]]) + "\n")
    done = ingest_nodes(source, tmp_path / "data", graph_models, *where)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nodes.csv line 102: unknown node id '999999'" in done.stdout + done.stderr
    assert "points written    199" in done.stdout, done.stdout


def test_strict_stops_at_an_unknown_node(graph_models: Path, tmp_path: Path) -> None:
    """--strict fails on the first bad row; a node the graph lacks was skipped all the same."""
    lines = (CORA / "nodes.csv").read_text().splitlines()
    source = tmp_path / "nodes.csv"
    source.write_text("\n".join([*lines[:31], "999999,1,train", *lines[31:60]]) + "\n")
    done = ingest_nodes(source, tmp_path / "data", graph_models, "--strict")
    assert done.returncode == 1, done.stdout
    assert "nodes.csv line 32: unknown node id '999999'" in done.stderr


def test_a_damaged_artifact_is_503_naming_its_folder(
    make_client: Callable[..., TestClient], graph_models: Path, tmp_path: Path
) -> None:
    """A truncated weights file was `available: true` and a bare 500 on every use."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(graph_models, models)
    weights = max((models / "graph-cora").rglob("*.pt"), key=lambda p: p.stat().st_size)
    weights.write_bytes(weights.read_bytes()[:100])
    client = make_client(models_dir=models)
    answer = client.post("/v1/embed", json={"encoder": "graph-cora", "inputs": [3]})
    assert_error(answer, 503, "artifact_unreadable", "encoder")
    assert str(models) in answer.json()["message"]

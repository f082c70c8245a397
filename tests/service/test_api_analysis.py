"""Analysis endpoints over REST on 1,500 real MNIST vectors: values, plots, rebuild, every 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DATA, assert_error

from encoders import EncoderPool
from service.app import create_app
from service.settings import Settings

N = 1500
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# a sparse, cheaply built graph, so small ef misses neighbours and autotune has work to do
GRAPH = {"M": 4, "ef_construction": 16}


def read_bvecs(path: Path, n: int) -> np.ndarray:
    """.bvecs: per vector an int32 dimension, then that many uint8 values."""
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view(np.int32)[0])
    return raw.reshape(-1, dim + 4)[:n, 4:].astype(np.float32) / 255.0


MNIST = read_bvecs(DATA / "ann_mnist10k" / "base.bvecs", N)
QUERIES = read_bvecs(DATA / "ann_mnist10k" / "query.bvecs", 20)
DIGITS = (DATA / "ann_mnist10k" / "labels.txt").read_text().split()[:N]


def load(client: TestClient, name: str, n: int, index: dict[str, Any]) -> None:
    body = {"name": name, "dim": MNIST.shape[1], "metric": "l2", "index": index}
    assert client.post("/v1/collections", json=body).status_code == 201
    for start in range(0, n, 500):
        points = [
            {"id": f"p{i}", "vector": MNIST[i].tolist(), "payload": {"digit": int(DIGITS[i])}}
            for i in range(start, min(start + 500, n))
        ]
        client.put(f"/v1/collections/{name}/points", json={"points": points}).raise_for_status()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app (no encoder loaded): `mnist` (hnsw), `exact` (flat, 300 points) and `empty`."""
    data_dir = tmp_path_factory.mktemp("analysis") / "data"
    settings = Settings(data_dir=data_dir, preload_encoders=[])
    with TestClient(create_app(settings, EncoderPool())) as client:
        load(client, "mnist", N, {"type": "hnsw", "params": GRAPH})
        load(client, "exact", 300, {"type": "flat"})
        load(client, "empty", 0, {"type": "hnsw"})
        yield client


def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def assert_png(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(PNG_SIGNATURE) and len(r.content) > 10_000


def test_intrinsic_dimension(api: TestClient) -> None:
    body = post(api, "/v1/collections/mnist/analysis/intrinsic-dimension", {})
    assert 2 < body["mle"] < 100 and 2 < body["twonn"] < 100 and 2 < body["lid_median"] < 100
    assert body["n"] == body["n_distinct"] == N and body["dim"] == 784
    assert (body["k"], body["lid_k"]) == (20, 100) and 2 < body["pca99"] < 784
    assert body["plot_url"].startswith("/v1/collections/mnist/analysis/plots/")
    assert_png(api, body["plot_url"])


def test_insertion_order(api: TestClient) -> None:
    body: dict[str, Any] = {
        "queries": 100,
        "orders": ["random", "lid-desc", "category"],
        "category_field": "digit",
        "seeds": [0, 1],
        "sample": 1000,
        **GRAPH,
    }
    report = post(api, "/v1/collections/mnist/analysis/insertion-order", body)
    assert (report["n"], report["n_queries"], report["metric"]) == (900, 100, "l2")
    assert report["orders"] == body["orders"] and report["recommended"] in body["orders"]
    assert len(report["results"]) == 2 * 3 * 2  # libraries x orders x ef
    assert all(0.3 < r["recall_mean"] <= 1 and r["seeds"] == [0, 1] for r in report["results"])
    assert set(report["recommended_by_library"]) == {"hnswlib", "faiss-hnsw"}
    assert_png(api, report["plot_url"])
    given = {"query_vectors": QUERIES.tolist(), "orders": ["random"], "seeds": [0]}
    report = post(api, "/v1/collections/mnist/analysis/insertion-order", {**given, **GRAPH})
    assert (report["n"], report["n_queries"], report["recommended"]) == (N, 20, "random")


def brute_force_hits(query: np.ndarray, found: list[str], k: int, skip: int | None) -> int:
    """How many of `found` are among the exact k nearest (float64), with a clear k-th gap."""
    dist = ((MNIST.astype(np.float64) - query) ** 2).sum(axis=1)
    if skip is not None:
        dist[skip] = np.inf
    order = np.argsort(dist)
    assert dist[order[k]] - dist[order[k - 1]] > 1e-6, "a tie at rank k makes the truth ambiguous"
    return len({f"p{i}" for i in order[:k]} & set(found))


def search_ids(client: TestClient, query: dict[str, Any], k: int, params: dict[str, Any]) -> list:
    body = {"query": query, "k": k, "params": params, "with_payload": False}
    return [h["id"] for h in post(client, "/v1/collections/mnist/search", body)["results"]]


def test_recall_equals_brute_force_count(api: TestClient) -> None:
    params, k = {"ef": 16}, 10
    body = post(api, "/v1/collections/mnist/analysis/recall", {"queries": 40, "params": params})
    assert (body["k"], body["queries"], body["params"], body["autotune"]) == (k, 40, params, None)
    hits = 0
    for qid in body["query_ids"]:  # a query by id skips itself, as the sampled queries do
        row = int(qid[1:])
        found = search_ids(api, {"id": qid}, k, params)
        hits += brute_force_hits(MNIST[row].astype(np.float64), found, k, skip=row)
    assert body["recall"] == pytest.approx(hits / (40 * k), abs=1e-12)
    assert 0.5 < body["recall"] < 1  # the sparse graph at ef=16 misses some
    assert_png(api, body["plot_url"])
    given = post(api, "/v1/collections/mnist/analysis/recall", {"query_vectors": QUERIES.tolist()})
    found = [search_ids(api, {"vector": q.tolist()}, k, {}) for q in QUERIES]
    hits = sum(
        brute_force_hits(q.astype(np.float64), f, k, None)
        for q, f in zip(QUERIES, found, strict=True)
    )
    assert given["query_ids"] is None and given["recall"] == pytest.approx(hits / (20 * k))


def test_recall_credits_ties_with_the_kth_neighbour(api: TestClient) -> None:
    """Exact kNN picks some of several equal points; a search that returned others is not
    wrong (ann-benchmarks' rule), and a search that misses is still counted a miss."""
    copies = [(i, c) for i in range(150) for c in range(3)] + [(150 + i, 0) for i in range(60)]
    points = [{"id": f"t{i}_{c}", "vector": MNIST[i].tolist()} for i, c in copies]
    points += [{"id": f"s{i}", "vector": MNIST[0].tolist()} for i in range(100)]
    for name, index in (("ties_flat", {"type": "flat"}), ("ties", {"type": "hnsw"})):
        body = {"name": name, "dim": MNIST.shape[1], "metric": "l2", "index": index}
        assert api.post("/v1/collections", json=body).status_code == 201
        for start in range(0, len(points), 250):
            batch = {"points": points[start : start + 250]}
            api.put(f"/v1/collections/{name}/points", json=batch).raise_for_status()
    for k in (1, 4, 10):  # the k-th true neighbour sits inside a group of equal points
        request = {"queries": 60, "k": k, "seed": k}
        exact = post(api, "/v1/collections/ties_flat/analysis/recall", request)
        assert exact["recall"] == 1.0, (k, exact["recall"])  # an exact search cannot miss
        request = {**request, "params": {"ef": 400}, "target_recall": 0.99}
        tuned = post(api, "/v1/collections/ties/analysis/recall", request)
        assert tuned["recall"] >= 0.99 and tuned["autotune"]["reached"], (k, tuned)
    # a miss is not a tie: the sparse mnist graph at ef=10 stays below the exact count
    low = post(api, "/v1/collections/mnist/analysis/recall", {"queries": 40, "params": {"ef": 10}})
    assert low["recall"] < 1


def test_autotune_picks_smallest_ef_reaching_target(api: TestClient) -> None:
    request = {"queries": 60, "target_recall": 0.97, "seed": 3}
    tuned = post(api, "/v1/collections/mnist/analysis/recall", request)["autotune"]
    table = tuned["table"]
    values, recalls = [r["value"] for r in table], [r["recall"] for r in table]
    assert tuned["knob"] == "ef" and tuned["reached"] and tuned["target_recall"] == 0.97
    assert values == sorted(set(values)) and values[0] == 10 and len(values) > 1
    # recall rises with ef (a hair of slack: a wider beam may swap one tied-ish neighbour)
    assert all(b >= a - 1 / 600 for a, b in zip(recalls, recalls[1:], strict=False))
    assert all(r < 0.97 for r in recalls[:-1]) and recalls[-1] >= 0.97
    assert (tuned["value"], tuned["recall"]) == (values[-1], recalls[-1])
    assert all(r["qps"] > 0 for r in table)
    again = post(
        api,
        "/v1/collections/mnist/analysis/recall",
        {**request, "target_recall": None, "params": {"ef": values[-1]}},
    )
    assert again["recall"] == recalls[-1]  # same queries, same graph: the table is the real path


def test_autotune_tries_no_beam_narrower_than_k(api: TestClient) -> None:
    """hnswlib searches with at least k: ef 10..96 at k 100 were rows of equal recall, and a
    lower target could have chosen an ef that never runs as stated."""
    request = {"queries": 30, "k": 100, "target_recall": 0.999, "seed": 3}
    table = post(api, "/v1/collections/mnist/analysis/recall", request)["autotune"]["table"]
    values = [r["value"] for r in table]
    assert values[0] == 100 and values == sorted(set(values)), values


def test_flat_index_has_nothing_to_tune(api: TestClient) -> None:
    body = post(api, "/v1/collections/exact/analysis/recall", {"queries": 30, "target_recall": 0.9})
    assert body["autotune"] is None and "'flat' has no ef or nprobe" in body["note"]
    assert body["recall"] == pytest.approx(1.0)
    assert_png(api, body["plot_url"])


def found_themselves(client: TestClient, name: str, n: int) -> bool:
    """Does an exhaustive-beam search for each of the first n vectors return that point?"""
    searches = [
        {"query": {"vector": MNIST[i].tolist()}, "k": 1, "params": {"ef": n}} for i in range(n)
    ]
    found = post(client, f"/v1/collections/{name}/search/batch", {"searches": searches})
    return [hits[0]["id"] for hits in found["results"]] == [f"p{i}" for i in range(n)]


def test_rebuild_keeps_points_and_records_order(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", preload_encoders=[])
    with TestClient(create_app(settings, EncoderPool())) as client:
        load(client, "rb", 400, {"type": "hnsw", "params": {"M": 16, "ef_construction": 64}})
        r = post(client, "/v1/collections/rb/rebuild", {"insertion_order": "lid-desc", "seed": 1})
        assert r == {"rebuilt": True, "insertion_order": "lid-desc", "count": 400}
        assert found_themselves(client, "rb", 400)
    meta = json.loads((tmp_path / "data/collections/rb/index/index.json").read_text())
    assert meta["insertion_order"] == "lid-desc" and meta["count"] == 400
    with TestClient(create_app(settings, EncoderPool())) as client:  # the snapshot loads back
        assert found_themselves(client, "rb", 400)
        assert post(client, "/v1/collections/rb/rebuild", {})["insertion_order"] is None
    meta = json.loads((tmp_path / "data/collections/rb/index/index.json").read_text())
    assert meta["insertion_order"] is None


ID, ORDER, RECALL = (
    f"/v1/collections/mnist/analysis/{a}"
    for a in ("intrinsic-dimension", "insertion-order", "recall")
)
EXACT_RECALL = "/v1/collections/exact/analysis/recall"
BAD = [
    (ID, {"k": 100, "sample": 50}, 422, "too_few_points", "k"),
    (ID, {"lid_k": 100, "sample": 50}, 422, "too_few_points", "lid_k"),
    # the server's NESTVEC_MAX_K bounds every k (a kNN of a 200,000 sample, k wide), and the
    # seeds and beams of an insertion-order run (each seed and order builds an index)
    (ID, {"k": 5000}, 422, "limit_exceeded", "k"),
    (ID, {"lid_k": 5000}, 422, "limit_exceeded", "lid_k"),
    (ORDER, {"k": 5000}, 422, "limit_exceeded", "k"),
    (ORDER, {"seeds": list(range(17))}, 422, "validation_error", "seeds"),
    (ORDER, {"ef_search": list(range(1, 34))}, 422, "validation_error", "ef_search"),
    (ID, {"sample": 1}, 422, "validation_error", "sample"),
    (ID, {"sample": 200_001}, 422, "validation_error", "sample"),
    (ID, {"bogus": 1}, 422, "validation_error", "bogus"),
    (ORDER, {"orders": ["random", "bogus"]}, 422, "unknown_order", "orders"),
    (ORDER, {"orders": ["category"]}, 422, "invalid_parameter", "category_field"),
    (  # a key no payload has: the order would be the stored one, and was "recommended"
        ORDER,
        {"orders": ["category"], "category_field": "no_such_key"},
        422,
        "invalid_parameter",
        "category_field",
    ),
    # both: the error names the second (it named none, its message began "Value error, ")
    (
        ORDER,
        {"queries": 5, "query_vectors": [[0.0] * 784]},
        422,
        "validation_error",
        "query_vectors",
    ),
    (ORDER, {"query_vectors": [[0.0] * 3]}, 422, "dimension_mismatch", "query_vectors[0]"),
    (RECALL, {"query_vectors": []}, 422, "validation_error", "query_vectors"),  # it named none
    (ORDER, {"queries": N - 1}, 422, "too_few_points", "queries"),
    (ORDER, {"libraries": ["annoy"], "orders": ["random"]}, 422, "invalid_parameter", "libraries"),
    (ORDER, {"seeds": [1, 1], "orders": ["random"]}, 422, "invalid_parameter", "seeds"),
    (EXACT_RECALL, {"k": 300, "queries": 5}, 422, "too_few_points", "k"),
    (RECALL, {"k": 5000}, 422, "limit_exceeded", "k"),
    (RECALL, {"queries": N + 1}, 422, "too_few_points", "queries"),
    (RECALL, {"params": {"nprobe": 4}}, 422, "invalid_index_params", "params.nprobe"),
    (RECALL, {"target_recall": 1.5}, 422, "validation_error", "target_recall"),
    # values are taken as their JSON type, as in every other body
    (ID, {"k": "5"}, 422, "validation_error", "k"),
    (ID, {"k": True}, 422, "validation_error", "k"),
    (ID, {"sample": 100.0}, 422, "validation_error", "sample"),
    (ORDER, {"k": "5"}, 422, "validation_error", "k"),
    (RECALL, {"target_recall": "0.9"}, 422, "validation_error", "target_recall"),
    (
        "/v1/collections/mnist/rebuild",
        {"insertion_order": "bogus"},
        422,
        "unknown_order",
        "insertion_order",
    ),
    (
        "/v1/collections/mnist/rebuild",
        {"insertion_order": "category"},
        422,
        "invalid_parameter",
        "insertion_order",
    ),
    ("/v1/collections/nope/analysis/recall", {}, 404, "collection_not_found", "name"),
    (ID.replace("mnist", "empty"), {}, 422, "too_few_points", "name"),
    (ORDER.replace("mnist", "empty"), {}, 422, "too_few_points", "name"),
    (RECALL.replace("mnist", "empty"), {}, 422, "too_few_points", "name"),
]


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), BAD)
def test_bad_input_is_4xx_with_code(
    api: TestClient, path: str, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    r = api.post(path, json=body)
    assert_error(r, status, code, field)
    assert "Value error" not in r.json()["message"]


def test_plot_names_are_checked(api: TestClient) -> None:
    plots = "/v1/collections/mnist/analysis/plots"
    assert_error(api.get(f"{plots}/missing.png"), 404, "plot_not_found", "filename")
    assert_error(api.get(f"{plots}/bad$name.png"), 422, "invalid_plot_name", "filename")
    assert_error(api.get(f"{plots}/index.json"), 422, "invalid_plot_name", "filename")
    # past the file system's name limit (a 500 once the collection had an analysis folder)
    assert_error(api.get(f"{plots}/{'a' * 300}.png"), 422, "invalid_plot_name", "filename")
    for sneaky in ("..%2F..%2Fcollections%2Fmnist%2Fstore.sqlite3", "..%2Fx.png", "%2E%2E"):
        r = api.get(f"{plots}/{sneaky}")
        assert r.status_code in (404, 422) and r.json()["code"] != "internal_error"
    assert_error(api.get("/v1/collections/nope/analysis/plots/a.png"), 404, "collection_not_found")


def test_rebuilding_two_points_by_lid_is_too_few_and_changes_nothing(api: TestClient) -> None:
    # the LID estimate needs a point's two nearest neighbours; it answered "k" (not in the body)
    assert api.post("/v1/collections", json={"name": "two", "dim": 2}).status_code == 201
    points = [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}]
    assert api.put("/v1/collections/two/points", json={"points": points}).status_code == 200
    answer = api.post("/v1/collections/two/rebuild", json={"insertion_order": "lid-desc"})
    assert_error(answer, 422, "too_few_points", "insertion_order")
    hits = api.post("/v1/collections/two/search", json={"query": {"vector": [1, 0]}, "k": 2})
    assert [h["id"] for h in hits.json()["results"]] == ["a", "b"]


def test_duplicates_shrink_the_default_neighbour_counts(api: TestClient) -> None:
    """40 points with one twin: the defaults fit the 39 distinct ones (it was 422 naming a `k`
    nobody sent); all-identical points are too few distinct points, named as such."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(40, 4))
    vectors[39] = vectors[0]
    api.post("/v1/collections", json={"name": "twins", "dim": 4})
    points = [{"id": str(i), "vector": v.tolist()} for i, v in enumerate(vectors)]
    api.put("/v1/collections/twins/points", json={"points": points}).raise_for_status()
    summary = post(api, "/v1/collections/twins/analysis/intrinsic-dimension", {})
    assert summary["lid_k"] == 38 and summary["n_distinct"] == 39
    rebuilt = api.post("/v1/collections/twins/rebuild", json={"insertion_order": "lid-desc"})
    assert rebuilt.status_code == 200, rebuilt.text
    api.post("/v1/collections", json={"name": "same", "dim": 4})
    same = [{"id": str(i), "vector": [1, 2, 3, 4]} for i in range(10)]
    api.put("/v1/collections/same/points", json={"points": same}).raise_for_status()
    answer = api.post("/v1/collections/same/analysis/intrinsic-dimension", json={})
    assert_error(answer, 422, "too_few_points")
    assert "3 distinct points, got 1 distinct among 10" in answer.json()["message"]
    answer = api.post("/v1/collections/same/rebuild", json={"insertion_order": "lid-asc"})
    assert_error(answer, 422, "too_few_points", "insertion_order")


def test_rebuild_by_a_payload_category(api: TestClient) -> None:
    """`category:FIELD` as `nestvec ingest` takes it (was 422 unknown_order); a field no payload
    has is 422, not a silent rebuild in the stored order."""
    api.post("/v1/collections", json={"name": "cats", "dim": 2})
    points = [{"id": str(i), "vector": [i, 1], "payload": {"topic": i % 3}} for i in range(12)]
    api.put("/v1/collections/cats/points", json={"points": points}).raise_for_status()
    done = api.post("/v1/collections/cats/rebuild", json={"insertion_order": "category:topic"})
    assert done.status_code == 200, done.text
    assert done.json()["insertion_order"] == "category:topic"
    answer = api.post("/v1/collections/cats/rebuild", json={"insertion_order": "category:nope"})
    assert_error(answer, 422, "invalid_parameter", "insertion_order")
    assert "'nope' is in no payload" in answer.json()["message"]
    assert_error(
        api.post("/v1/collections/cats/rebuild", json={"insertion_order": "category"}),
        422,
        "invalid_parameter",
        "insertion_order",
    )


def test_a_zero_vector_in_a_cosine_collection_leaves_the_analyses_working(api: TestClient) -> None:
    """A cosine collection stores a zero vector (it scores 0 against everything); the analyses
    answered 422 for the whole collection (recall, insertion order) or an LID mean of ~285,000
    (intrinsic dimension). Sampled analyses now leave it out; recall scores it as search does."""
    rng = np.random.default_rng(9)
    vectors = rng.normal(size=(120, 8))
    for name, rows in (("directed", vectors), ("with_zero", np.vstack([vectors, np.zeros(8)]))):
        api.post("/v1/collections", json={"name": name, "dim": 8, "metric": "cosine"})
        points = [{"id": str(i), "vector": v.tolist()} for i, v in enumerate(rows)]
        api.put(f"/v1/collections/{name}/points", json={"points": points}).raise_for_status()
    path = "/v1/collections/{}/analysis/intrinsic-dimension"
    plain = post(api, path.format("directed"), {})
    zero = post(api, path.format("with_zero"), {})
    assert zero["lid_mean"] == pytest.approx(plain["lid_mean"]) and zero["lid_mean"] < 20
    recall = post(api, "/v1/collections/with_zero/analysis/recall", {"queries": 121})
    assert recall["queries"] == 121 and recall["recall"] > 0.9
    order = {"orders": ["random"], "seeds": [0], "queries": 20, **GRAPH}
    report = post(api, "/v1/collections/with_zero/analysis/insertion-order", order)
    assert report["n"] == 100  # 120 directed points, 20 of them held out as queries


@pytest.mark.parametrize("drop", ["/v1/collections/again", "/collections/again"])  # ours, Qdrant's
def test_a_new_collection_of_a_dropped_ones_name_has_none_of_its_plots(
    api: TestClient, drop: str
) -> None:
    load(api, "again", 60, {"type": "flat"})
    url = post(api, "/v1/collections/again/analysis/intrinsic-dimension", {"k": 5})["plot_url"]
    assert api.delete(drop).status_code == 200
    load(api, "again", 0, {"type": "flat"})
    assert_error(api.get(url), 404, "plot_not_found")
    api.delete("/v1/collections/again").raise_for_status()


def test_plots_are_served_as_files_only_and_go_with_a_linked_folder(
    api: TestClient, tmp_path: Path
) -> None:
    """A link in the plot folder was followed (any file the server could read came back as a
    PNG); a linked plot folder was left behind by a delete, its plots served to the next
    collection of that name."""
    load(api, "linked", 60, {"type": "flat"})
    url = post(api, "/v1/collections/linked/analysis/intrinsic-dimension", {"k": 5})["plot_url"]
    data_dir = api.app_state["engine"].settings.data_dir
    folder = data_dir / "analysis" / "linked"
    secret = tmp_path / "secret.txt"
    secret.write_text("not a plot")
    (folder / "evil.png").symlink_to(secret)
    assert_error(api.get("/v1/collections/linked/analysis/plots/evil.png"), 404, "plot_not_found")
    elsewhere = tmp_path / "plots-elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)
    assert_png(api, url)
    assert api.delete("/v1/collections/linked").status_code == 200
    assert not folder.exists() and not elsewhere.exists()


def test_a_collection_keeps_its_newest_plots_only(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each distinct request draws a file of its own: a read-only key could fill the disk."""
    from diagnostics import plots

    monkeypatch.setattr(plots, "MAX_PLOTS", 3)
    load(api, "many", 60, {"type": "flat"})
    try:
        urls = [
            post(api, "/v1/collections/many/analysis/intrinsic-dimension", {"k": k})["plot_url"]
            for k in range(3, 8)
        ]
        folder = api.app_state["engine"].settings.data_dir / "analysis" / "many"
        assert len(list(folder.glob("*.png"))) == 3
        assert_png(api, urls[-1])
        assert_error(api.get(urls[0]), 404, "plot_not_found")
    finally:
        api.delete("/v1/collections/many").raise_for_status()

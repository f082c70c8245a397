"""The funnel's first tier as an HNSW graph over the prefix (`tier: "hnsw"`, the default) or a
flat scan (`tier: "flat"`): at a wide shortlist and beam both equal exact search, the graph
follows upserts and deletes, filters still apply, bad specs are 422 with a field path, and
searches from many threads answer as each would alone. Real hnswlib, faiss and SQLite."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error

from index import Catalog, CollectionConfig
from index.collection import Collection
from index.funnel import FunnelSearch
from index.funnel_spec import FunnelSpec, InvalidFunnel
from index.metrics import METRICS

DIM, N, K = 32, 1500, 10
# falling scales make the prefix carry most of the geometry, as a Matryoshka encoder's does
SCALES = np.exp(-np.arange(DIM) / 3.0).astype(np.float32)


def points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, DIM)) * SCALES).astype(np.float32)


QUERIES = points(12, 99)
WIDE = {"dims": [8], "shortlist": 300, "ef": 1000}  # wide enough to be exact here


def make(tmp_path: Path, metric: str = "cosine") -> Collection:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM, metric=metric, index_type="flat"))
    col.upsert([str(i) for i in range(N)], points(N, 1), [{"odd": i % 2} for i in range(N)])
    return col


def ids(hits: list[list[Any]]) -> list[list[str]]:
    return [[h.id for h in row] for row in hits]


def spec(raw: dict[str, Any]) -> FunnelSpec:
    return FunnelSpec.parse(raw, DIM)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_hnsw_tier_at_a_wide_beam_is_exact_and_is_the_default(tmp_path: Path, metric: str) -> None:
    col = make(tmp_path, metric)
    exact = ids(col.search(QUERIES, K, with_payload=False))
    assert ids(col.search(QUERIES, K, funnel={**WIDE, "tier": "hnsw"})) == exact
    assert ids(col.search(QUERIES, K, funnel={**WIDE, "tier": "flat"})) == exact
    funnel = col._funnel
    assert funnel is not None and funnel.ready(spec(WIDE))  # the graph answered
    assert spec({"dims": [8]}).tier == "hnsw" and spec({"dims": [8], "tier": None}).ef is None
    # ef below the shortlist is raised to it (hnswlib never searches narrower than k)
    assert spec({"dims": [8], "shortlist": 300, "ef": 5}).tier_ef(300) == 300


def test_hnsw_tier_follows_upserts_replacements_and_deletes(tmp_path: Path) -> None:
    col = make(tmp_path)
    col.search(QUERIES, K, funnel=WIDE)  # the graph exists before the writes
    fresh = points(200, 2)
    col.upsert([f"n{i}" for i in range(200)], fresh, [{"odd": i % 2} for i in range(200)])
    # replacements get new labels: the old vectors must leave the graph
    col.upsert([str(i) for i in range(100)], points(100, 3), [{"odd": i % 2} for i in range(100)])
    col.delete([str(i) for i in range(100, 400)] + [f"n{i}" for i in range(50)])
    gone = {str(i) for i in range(100, 400)} | {f"n{i}" for i in range(50)}
    # queries on top of fresh and replaced points: stale entries would show up here
    queries = np.concatenate([QUERIES, fresh[:20] + 0.01, points(100, 3)[:20] + 0.01])
    found = ids(col.search(queries, K, funnel=WIDE))
    assert found == ids(col.search(queries, K, with_payload=False))
    assert not gone & set().union(*found)
    assert len(col._funnel._graphs[8]) == col.count() == N + 200 - 350  # type: ignore[union-attr]


def test_funnel_rows_follow_random_writes_without_copying_the_collection(tmp_path: Path) -> None:
    """Rounds of fresh points, replacements and deletes (removals refill holes from the tail):
    every row still holds its label's stored vector and each tier its prefix, both tiers answer
    as exact search, and a write that fits the capacity keeps the buffers (it used to copy every
    vector and prefix: 37 ms against 3 for a one-point upsert at 50k 384-d points)."""
    col = make(tmp_path)
    exact_funnel = {"dims": [4, 8], "shortlist": [400, 300], "tier": "flat"}
    col.search(QUERIES, K, funnel=WIDE)
    col.search(QUERIES, K, funnel=exact_funnel)  # tiers 4 and 8, a graph and a flat scan
    rng = np.random.default_rng(5)
    live = {str(i) for i in range(N)}
    for round_ in range(6):
        fresh = [f"r{round_}-{i}" for i in range(int(rng.integers(1, 400)))]
        replaced = [str(x) for x in rng.choice(sorted(live), 50, replace=False)]
        written = fresh + replaced
        col.upsert(written, points(len(written), 10 + round_), [{}] * len(written))
        live |= set(fresh)
        n_dropped = int(rng.integers(1, 300))
        dropped = [str(x) for x in rng.choice(sorted(live), n_dropped, replace=False)]
        col.delete(dropped)
        live -= set(dropped)
        funnel = col._funnel
        assert funnel is not None and len(funnel) == len(live) == col.count()
        stored = {p.id: p.vector for p in col.get(sorted(live), with_vector=True)}
        metric = METRICS["cosine"]
        assert sorted(col._ids[int(x)] for x in funnel.labels) == sorted(live)
        want = metric.prepare(np.stack([stored[col._ids[int(x)]] for x in funnel.labels]))
        np.testing.assert_allclose(funnel.full, want, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(funnel.tier(4), metric.prepare(want[:, :4]), atol=1e-6)
        assert all(funnel._row[int(x)] == row for row, x in enumerate(funnel.labels))
        exact = ids(col.search(QUERIES, K, with_payload=False))
        assert ids(col.search(QUERIES, K, funnel=WIDE)) == exact
        assert ids(col.search(QUERIES, K, funnel=exact_funnel)) == exact
    funnel = col._funnel
    assert funnel is not None
    buffers = (funnel._full, funnel._tiers[4], funnel._tiers[8])
    assert len(funnel) < len(funnel._full)  # room left: the next point lands in place
    col.upsert(["one-more"], points(1, 77), [{}])
    after = (funnel._full, funnel._tiers[4], funnel._tiers[8])
    assert all(a is b for a, b in zip(buffers, after, strict=True))


def test_tiers_kept_are_bounded_by_twice_the_full_vectors(tmp_path: Path) -> None:
    """Every dim asked for keeps a tier: one request for dims 1..31 kept 15x the vectors (at
    30k 128-d points, 1.2 GB for 15 MB) until a restart. Past twice the full dim in all, a new
    tier is refused (422 invalid_funnel) and the kept ones go on answering."""
    col = make(tmp_path)
    col.search(QUERIES, K, funnel={"dims": [8, 16]})
    with pytest.raises(InvalidFunnel, match=r"keeps funnel tiers for dims \[8, 16\]") as refused:
        col.search(QUERIES, K, funnel={"dims": list(range(1, DIM)), "tier": "flat"})
    assert refused.value.code == "invalid_funnel" and refused.value.field == "funnel.dims"
    funnel = col._funnel
    assert funnel is not None and sum(funnel._tiers) <= 2 * DIM
    col.search(QUERIES, K, funnel={"dims": [24]})  # 8 + 16 + 24 + 16 (from above) fit
    assert ids(col.search(QUERIES, K, funnel=WIDE)) == ids(col.search(QUERIES, K))


def test_searches_go_on_while_a_funnel_graph_builds_and_a_write_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first hnsw-tier search on a dim builds its graph (seconds on large collections). It
    was built under the view's read lock: a write queued meanwhile then held every search, a
    plain one too (4.6 s against 4.5 ms). Now writers wait for the build, searches do not."""
    import index.funnel

    col = make(tmp_path)
    building, release = threading.Event(), threading.Event()
    original = index.funnel.HnswIndex.add

    def slow_add(self: Any, labels: np.ndarray, vectors: np.ndarray) -> None:
        original(self, labels, vectors)
        building.set()
        assert release.wait(30)

    monkeypatch.setattr(index.funnel.HnswIndex, "add", slow_add)
    funnel_search = threading.Thread(target=col.search, args=(QUERIES, K), kwargs={"funnel": WIDE})
    funnel_search.start()
    assert building.wait(30)
    writer = threading.Thread(target=col.upsert, args=(["w"], points(1, 5), [{}]))
    writer.start()
    writer.join(0.3)  # it waits for the build to finish (no commit lands under a build)
    plain: list[Any] = []
    reader = threading.Thread(target=lambda: plain.append(col.search(QUERIES, K)))
    reader.start()
    reader.join(10)
    finished = not reader.is_alive()
    release.set()
    for thread in (funnel_search, writer, reader):
        thread.join(30)
    assert finished and len(plain[0]) == len(QUERIES)
    assert "w" in {p.id for p in col.get(["w"])}


def test_filtered_funnel_scans_the_allowed_rows(tmp_path: Path) -> None:
    col = make(tmp_path)
    col.delete([str(i) for i in range(0, 200, 2)])
    odd = {"must": [{"key": "odd", "match": {"value": 1}}]}
    even = {"must": [{"key": "odd", "match": {"value": 0}}]}
    for flt in (odd, even):
        found = ids(col.search(QUERIES, K, filter=flt, funnel=WIDE))
        assert found == ids(col.search(QUERIES, K, filter=flt))
        assert all(int(x) % 2 == (flt is odd) for row in found for x in row)
    funnel = col._funnel
    assert funnel is not None and not funnel.ready(spec(WIDE), filtered=True)  # a flat scan
    col.search(QUERIES, K, funnel=WIDE)
    assert funnel.ready(spec(WIDE)) and not funnel.ready(spec({**WIDE, "tier": "flat"}))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"dims": [8], "tier": "ivf"}, "funnel.tier"),
        ({"dims": [8], "tier": 1}, "funnel.tier"),
        ({"dims": [8], "ef": 0}, "funnel.ef"),
        ({"dims": [8], "ef": 40000}, "funnel.ef"),
        ({"dims": [8], "ef": "64"}, "funnel.ef"),
        ({"dims": [8], "ef": True}, "funnel.ef"),
        ({"dims": [8], "shortlist": [True]}, "funnel.shortlist"),
        ({"dims": [8], "shortlist": ["x"]}, "funnel.shortlist"),
        ({"dims": [8], "efs": 64}, "funnel.efs"),
    ],
)
def test_bad_tier_fields_are_invalid_funnel(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFunnel) as caught:
        spec(raw)
    assert caught.value.code == "invalid_funnel" and caught.value.field == field


def test_rest_accepts_tier_and_ef_and_rejects_bad_values(client: TestClient) -> None:
    body = {"name": "v", "dim": DIM, "index": {"type": "hnsw"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    pts = [{"id": str(i), "vector": v.tolist()} for i, v in enumerate(points(300, 4))]
    assert client.put("/v1/collections/v/points", json={"points": pts}).status_code == 200
    query = {"query": {"vector": QUERIES[0].tolist()}, "k": 5, "with_payload": False}
    answers = []
    for tier in ("hnsw", "flat"):
        funnel = {"dims": [8], "shortlist": 300, "tier": tier, "ef": 300}
        r = client.post("/v1/collections/v/search", json={**query, "funnel": funnel})
        assert r.status_code == 200, r.text
        answers.append([hit["id"] for hit in r.json()["results"]])
    assert answers[0] == answers[1]
    for bad, field in (({"tier": "ivf"}, "funnel.tier"), ({"ef": 0}, "funnel.ef")):
        r = client.post("/v1/collections/v/search", json={**query, "funnel": {"dims": [8], **bad}})
        assert_error(r, 422, "validation_error", field)


def test_concurrent_searches_equal_the_same_searches_alone() -> None:
    metric = METRICS["cosine"]
    funnel = FunnelSearch(metric, DIM)
    funnel.add(np.arange(1, N + 1), metric.prepare(points(N, 1)))
    queries = metric.prepare(points(40, 5))
    # different beams and shortlists, so a search that ran under another's ef would differ
    specs = [spec({"dims": [8], "shortlist": s, "ef": e}) for s, e in ((10, 10), (20, 200))]
    specs.append(spec({"dims": [8, 16], "shortlist": [40, 20], "tier": "flat"}))
    specs.append(spec({"dims": [16], "shortlist": 15}))
    results: dict[tuple[int, int], Any] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            start.wait()  # all at once, while the graphs are still unbuilt
            for i in range(30):
                s, q = (t + i) % len(specs), (t * 7 + i) % len(queries)
                results[(t, i)] = (s, q, funnel.search(queries[q : q + 1], K, specs[s]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and len(results) == 8 * 30
    assert len(funnel._graphs) == 2  # built once each, whoever asked first
    for s, q, (labels, scores) in results.values():
        alone_labels, alone_scores = funnel.search(queries[q : q + 1], K, specs[s])
        assert (labels == alone_labels).all() and np.allclose(scores, alone_scores)

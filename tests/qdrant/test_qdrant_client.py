"""The official qdrant-client (REST) against a live `nestvec serve`: same answers as the v1 API
on the same collections, in both directions."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import UnexpectedResponse
from support import DOCS, LiveServer

DIM = 8
RNG = np.random.default_rng(7)
VECTORS = RNG.standard_normal((40, DIM)).astype(np.float32)
COLORS = ["red", "green", "blue", "red"]
UUIDS = [str(uuid.UUID(int=i + 1000)) for i in range(10)]
IDS: list[int | str] = [*range(30), *UUIDS]


def payload_of(i: int) -> dict[str, object]:
    return {"color": COLORS[i % 4], "n": i, "tags": ["even"] if i % 2 == 0 else []}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(Path(tmp_path_factory.mktemp("qdrant")) / "data").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def qc(server: LiveServer) -> QdrantClient:
    return QdrantClient(url=server.url, prefer_grpc=False, timeout=60)


@pytest.fixture(scope="module")
def v1(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def pts(qc: QdrantClient) -> str:
    """A Cosine collection of 40 points (30 integer ids, 10 UUIDs), made through qdrant-client."""
    qc.create_collection("pts", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    points = [
        m.PointStruct(id=pid, vector=VECTORS[i].tolist(), payload=payload_of(i))
        for i, pid in enumerate(IDS[:20])
    ]
    qc.upsert("pts", points=points)
    rest = list(range(20, 40))  # the other half as columns (Qdrant's `batch` shape)
    qc.upsert(
        "pts",
        points=m.Batch(
            ids=[IDS[i] for i in rest],
            vectors=[VECTORS[i].tolist() for i in rest],
            payloads=[payload_of(i) for i in rest],
        ),
    )
    return "pts"


def test_root_reports_a_version_the_client_accepts(qc: QdrantClient, server: LiveServer) -> None:
    info = qc.info()
    assert info.version.split(".")[:2] == ["1", "20"] and "qdrant" in info.title
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        QdrantClient(url=server.url, prefer_grpc=False)  # checks compatibility on start
    assert not [w for w in seen if "compatib" in str(w.message).lower()]


def test_collections_are_shared_with_the_v1_api(
    qc: QdrantClient, v1: httpx.Client, pts: str
) -> None:
    assert qc.collection_exists(pts) and not qc.collection_exists("nothing")
    info = qc.get_collection(pts)
    assert info.points_count == 40
    assert info.config.params.vectors.size == DIM  # type: ignore[union-attr]
    assert info.config.params.vectors.distance == m.Distance.COSINE  # type: ignore[union-attr]
    described = v1.get(f"/v1/collections/{pts}").json()
    assert (described["dim"], described["metric"], described["count"]) == (DIM, "cosine", 40)
    # a collection made through v1 (with an encoder) is a Qdrant collection too
    body = {"name": "docs", "encoder": "minilm"}
    assert v1.post("/v1/collections", json=body).status_code == 201
    points = [{"id": k, "text": t, "payload": p} for k, (t, p) in DOCS.items()]
    assert v1.put("/v1/collections/docs/points", json={"points": points}).status_code == 200
    assert {c.name for c in qc.get_collections().collections} >= {"pts", "docs"}
    assert qc.get_collection("docs").config.params.vectors.size == 384  # type: ignore[union-attr]
    # its string ids come back as strings; a v1 search and a Qdrant query agree
    cat = qc.retrieve("docs", ids=["cat"], with_vectors=True)[0]
    assert cat.id == "cat" and cat.payload == DOCS["cat"][1]
    found = qc.query_points("docs", query=cat.vector, limit=4).points  # type: ignore[arg-type]
    v1_hits = v1.post(
        "/v1/collections/docs/search", json={"query": {"vector": cat.vector}, "k": 4}
    ).json()["results"]
    assert [p.id for p in found] == [h["id"] for h in v1_hits]
    assert qc.delete_collection("docs") is True and qc.delete_collection("docs") is False
    assert v1.get("/v1/collections/docs").status_code == 404


def test_integer_ids_come_back_as_integers_and_uuids_as_strings(
    qc: QdrantClient, v1: httpx.Client, pts: str
) -> None:
    got = qc.retrieve(pts, ids=[3, UUIDS[0], 999], with_vectors=True)
    assert [p.id for p in got] == [3, UUIDS[0]]  # the unknown id is skipped, as Qdrant does
    assert got[0].payload == payload_of(3)
    # a Cosine collection answers unit vectors, as Qdrant normalises on upsert
    unit = VECTORS[3] / np.linalg.norm(VECTORS[3])
    np.testing.assert_allclose(got[0].vector, unit, rtol=1e-5, atol=1e-7)  # type: ignore[arg-type]
    # a UUID without hyphens names the same point; v1 sees the canonical string and "3"
    assert qc.retrieve(pts, ids=[uuid.UUID(UUIDS[0]).hex])[0].id == UUIDS[0]
    ids = v1.get(f"/v1/collections/{pts}/points", params={"ids": ["3", UUIDS[0]]}).json()
    assert [p["id"] for p in ids["points"]] == ["3", UUIDS[0]]


def test_scroll_pages_through_a_filter_exactly_once(qc: QdrantClient, pts: str) -> None:
    red = m.Filter(must=[m.FieldCondition(key="color", match=m.MatchValue(value="red"))])
    seen: list[int | str] = []
    offset = None
    pages = 0
    while True:
        points, offset = qc.scroll(pts, scroll_filter=red, limit=3, offset=offset)
        seen += [p.id for p in points]
        pages += 1
        assert all(p.payload and p.payload["color"] == "red" for p in points)
        if offset is None:
            break
    expected = {IDS[i] for i in range(40) if COLORS[i % 4] == "red"}
    assert len(seen) == len(expected) == len(set(seen)) and set(seen) == expected
    assert pages == -(-len(expected) // 3)
    everything, last = qc.scroll(pts, limit=100)
    assert len(everything) == 40 and last is None
    assert qc.count(pts, count_filter=red).count == len(expected)


def test_search_matches_the_v1_api(qc: QdrantClient, v1: httpx.Client, pts: str) -> None:
    query = RNG.standard_normal(DIM).tolist()
    flt = m.Filter(must_not=[m.FieldCondition(key="color", match=m.MatchValue(value="blue"))])
    found = qc.query_points(
        pts,
        query=query,
        query_filter=flt,
        limit=5,
        offset=2,
        with_payload=True,
        search_params=m.SearchParams(hnsw_ef=128),
    ).points
    v1_hits = v1.post(
        f"/v1/collections/{pts}/search",
        json={
            "query": {"vector": query},
            "k": 7,
            "filter": flt.model_dump(exclude_none=True),
            "params": {"ef": 128},
        },
    ).json()["results"]
    assert [str(p.id) for p in found] == [h["id"] for h in v1_hits[2:]]
    assert [p.score for p in found] == pytest.approx([h["score"] for h in v1_hits[2:]])
    assert all(p.payload and p.payload["color"] != "blue" for p in found)
    # score_threshold keeps scores past it (exclusive, as Qdrant's engine); a stored point as
    # the query excludes itself
    cut = found[2].score
    kept = qc.query_points(pts, query=query, query_filter=flt, score_threshold=cut, limit=20)
    assert [str(p.id) for p in kept.points] == [h["id"] for h in v1_hits][:4]  # 2 + 2 kept
    assert min(p.score for p in kept.points) > cut
    batch = qc.query_batch_points(
        pts, requests=[m.QueryRequest(query=query, filter=flt, limit=7), m.QueryRequest(query=5)]
    )
    assert [str(p.id) for p in batch[0].points] == [h["id"] for h in v1_hits]
    by_id = qc.query_points(pts, query=5, limit=3).points
    assert 5 not in [p.id for p in by_id] and len(by_id) == 3


def test_recommend_matches_the_v1_api(qc: QdrantClient, v1: httpx.Client, pts: str) -> None:
    for strategy in (m.RecommendStrategy.AVERAGE_VECTOR, m.RecommendStrategy.BEST_SCORE):
        found = qc.query_points(
            pts,
            query=m.RecommendQuery(
                recommend=m.RecommendInput(positive=[1, UUIDS[2]], negative=[4], strategy=strategy)
            ),
            limit=4,
        ).points
        v1_hits = v1.post(
            f"/v1/collections/{pts}/recommend",
            json={"positive": ["1", UUIDS[2]], "negative": ["4"], "k": 4, "strategy": strategy},
        ).json()["results"]
        assert [str(p.id) for p in found] == [h["id"] for h in v1_hits]
        assert {1, 4, UUIDS[2]}.isdisjoint(p.id for p in found)


def test_payload_updates_keep_the_vector(qc: QdrantClient, v1: httpx.Client, pts: str) -> None:
    qc.set_payload(pts, payload={"extra": {"a": 1}}, points=[7])
    qc.set_payload(pts, payload={"b": 2}, key="extra", points=[7])
    qc.delete_payload(pts, keys=["tags", "extra.a"], points=[7])
    got = qc.retrieve(pts, ids=[7], with_vectors=True)[0]
    assert got.payload == {"color": COLORS[3], "n": 7, "extra": {"b": 2}}
    unit = VECTORS[7] / np.linalg.norm(VECTORS[7])
    np.testing.assert_allclose(got.vector, unit, rtol=1e-5, atol=1e-7)  # type: ignore[arg-type]
    # by filter: every green point, seen by the v1 API and by its filters
    green = m.Filter(must=[m.FieldCondition(key="color", match=m.MatchValue(value="green"))])
    qc.overwrite_payload(pts, payload={"color": "green", "fresh": True}, points=green)
    v1_count = v1.post(
        f"/v1/collections/{pts}/count",
        json={"filter": {"must": [{"key": "fresh", "match": {"value": True}}]}},
    ).json()["count"]
    assert v1_count == 10 == qc.count(pts, count_filter=green).count
    # a search still finds a rewritten point by its own vector, first
    hit = qc.query_points(pts, query=VECTORS[1].tolist(), limit=1, with_payload=True).points[0]
    assert hit.id == 1 and hit.payload == {"color": "green", "fresh": True}
    assert qc.count(pts).count == 40


def test_an_empty_should_is_no_constraint(qc: QdrantClient, v1: httpx.Client, pts: str) -> None:
    """As Qdrant's engine (qdrant-edge 0.9 and qdrant-client's local mode): every point; it
    matched none, so a filter built from optional terms lost every result."""
    assert qc.count(pts, count_filter=m.Filter(should=[])).count == 40
    assert qc.count(pts, count_filter=m.Filter(must_not=[m.Filter(should=[])])).count == 0
    both = m.Filter(must=[m.FieldCondition(key="color", match=m.MatchValue(value="green"))])
    assert (
        qc.count(pts, count_filter=m.Filter(must=both.must, should=[])).count
        == qc.count(pts, count_filter=both).count
    )
    hits = qc.query_points(pts, query=VECTORS[1].tolist(), query_filter=m.Filter(should=[]))
    assert hits.points[0].id == 1
    body = {"query": {"vector": VECTORS[1].tolist()}, "filter": {"should": []}}
    assert v1.post(f"/v1/collections/{pts}/search", json=body).json()["results"][0]["id"] == "1"


def test_payload_changes_to_a_missing_point_are_404(qc: QdrantClient, pts: str) -> None:
    """As Qdrant: "No point with id 4242 found", and nothing is written (it was `completed`)."""
    before = qc.retrieve(pts, ids=[7])[0].payload
    changes = [
        lambda: qc.set_payload(pts, payload={"x": 1}, points=[7, 4242]),
        lambda: qc.overwrite_payload(pts, payload={"x": 1}, points=[4242]),
        lambda: qc.delete_payload(pts, keys=["n"], points=[7, 4242]),
        lambda: qc.clear_payload(pts, points_selector=[4242, 7]),
    ]
    for change in changes:
        with pytest.raises(UnexpectedResponse) as caught:
            change()
        assert caught.value.status_code == 404 and b"4242" in caught.value.content
    assert qc.retrieve(pts, ids=[7])[0].payload == before


def test_payload_index_and_new_filter_conditions(
    qc: QdrantClient, v1: httpx.Client, pts: str
) -> None:
    before = {name: qc.count(pts, count_filter=flt).count for name, flt in _conditions().items()}
    qc.create_payload_index(pts, "color", field_schema=m.PayloadSchemaType.KEYWORD)
    qc.create_payload_index(pts, "n", field_schema=m.PayloadSchemaType.INTEGER)
    schema = qc.get_collection(pts).payload_schema
    assert schema["color"].data_type == m.PayloadSchemaType.KEYWORD and schema["color"].points == 40
    assert v1.get(f"/v1/collections/{pts}").json()["payload_indexes"] == {
        "color": "keyword",
        "n": "integer",
    }
    after = {name: qc.count(pts, count_filter=flt).count for name, flt in _conditions().items()}
    assert after == before  # the payload index answers as SQLite does, min_should included
    assert before["has_id"] == 2 and before["is_empty"] == 20 and before["min_should"] > 0
    assert before["text"] == 20  # the word "red", in any case
    qc.delete_payload_index(pts, "n")
    assert "n" not in qc.get_collection(pts).payload_schema
    # idempotent, as Qdrant's: an index already gone is done, not a 404
    assert qc.delete_payload_index(pts, "n").status == m.UpdateStatus.COMPLETED


def _conditions() -> dict[str, m.Filter]:
    red = m.FieldCondition(key="color", match=m.MatchValue(value="red"))
    low = m.FieldCondition(key="n", range=m.Range(lt=10))
    return {
        "has_id": m.Filter(must=[m.HasIdCondition(has_id=[2, UUIDS[1], 12345])]),
        "is_empty": m.Filter(must=[m.IsEmptyCondition(is_empty=m.PayloadField(key="tags"))]),
        "min_should": m.Filter(min_should=m.MinShould(conditions=[red, low], min_count=2)),
        "values_count": m.Filter(
            must=[m.FieldCondition(key="tags", values_count=m.ValuesCount(gte=1))]
        ),
        "text": m.Filter(must=[m.FieldCondition(key="color", match=m.MatchText(text="RED"))]),
    }


def test_delete_by_ids_and_by_filter(qc: QdrantClient, v1: httpx.Client) -> None:
    qc.create_collection("del", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.DOT))
    qc.upsert(
        "del",
        points=[
            m.PointStruct(id=i, vector=VECTORS[i].tolist(), payload=payload_of(i))
            for i in range(12)
        ],
    )
    qc.delete("del", points_selector=m.PointIdsList(points=[0, 1]))
    red = m.Filter(must=[m.FieldCondition(key="color", match=m.MatchValue(value="red"))])
    qc.delete("del", points_selector=m.FilterSelector(filter=red))
    left = {p.id for p in qc.scroll("del", limit=50)[0]}
    assert left == {i for i in range(2, 12) if COLORS[i % 4] != "red"}
    assert v1.post("/v1/collections/del/count", json={}).json()["count"] == len(left)


def test_euclid_scores_are_distances(qc: QdrantClient) -> None:
    qc.create_collection("l2", vectors_config=m.VectorParams(size=2, distance=m.Distance.EUCLID))
    qc.upsert("l2", points=[m.PointStruct(id=i, vector=[float(i), 0.0]) for i in range(5)])
    found = qc.query_points("l2", query=[0.0, 0.0], limit=3).points
    assert [(p.id, round(p.score, 5)) for p in found] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    near = qc.query_points("l2", query=[0.0, 0.0], limit=5, score_threshold=1.5).points
    assert [p.id for p in near] == [0, 1]


def test_errors_are_qdrant_errors(qc: QdrantClient, pts: str) -> None:
    with pytest.raises(UnexpectedResponse) as missing:
        qc.get_collection("nothing")
    assert missing.value.status_code == 404
    with pytest.raises(UnexpectedResponse) as exists:
        qc.create_collection(pts, vectors_config=m.VectorParams(size=2, distance="Cosine"))
    assert exists.value.status_code == 409
    with pytest.raises(UnexpectedResponse) as wrong_dim:
        qc.query_points(pts, query=[1.0, 2.0])
    assert wrong_dim.value.status_code == 422 and b"expected 8 values" in wrong_dim.value.content
    for sent, name in (
        ({"m": 1}, "hnsw_config.m"),
        ({"ef_construct": 0}, "hnsw_config.ef_construct"),
    ):
        with pytest.raises(UnexpectedResponse) as bad_graph:  # it said "M" and "ef_construction"
            config = m.VectorParams(size=2, distance="Cosine")
            qc.create_collection("g", vectors_config=config, hnsw_config=m.HnswConfigDiff(**sent))
        assert bad_graph.value.status_code == 422
        assert bad_graph.value.content.decode().count(f'"{name}: ') == 1, bad_graph.value.content


@pytest.mark.parametrize("distance", [m.Distance.COSINE, m.Distance.DOT, m.Distance.EUCLID])
def test_vectors_come_back_as_qdrant_keeps_them(
    qc: QdrantClient, v1: httpx.Client, distance: m.Distance
) -> None:
    # Qdrant normalises a Cosine collection's vectors on upsert and answers them so everywhere;
    # Dot and Euclid keep the vector sent. nestvec's own API answers what was sent.
    name = f"kept-{distance.value.lower()}"
    qc.create_collection(name, vectors_config=m.VectorParams(size=4, distance=distance))
    qc.upsert(name, points=[m.PointStruct(id=1, vector=[3.0, 4.0, 0.0, 0.0])])
    shown = [0.6, 0.8, 0.0, 0.0] if distance == m.Distance.COSINE else [3.0, 4.0, 0.0, 0.0]
    answers = [
        qc.retrieve(name, ids=[1], with_vectors=True)[0].vector,
        qc.scroll(name, with_vectors=True)[0][0].vector,
        qc.query_points(name, query=[1.0, 1.0, 0.0, 0.0], with_vectors=True).points[0].vector,
    ]
    for vector in answers:
        np.testing.assert_allclose(vector, shown, rtol=1e-6)  # type: ignore[arg-type]
    stored = v1.get(f"/v1/collections/{name}/points", params={"with_vector": True}).json()
    assert stored["points"][0]["vector"] == [3.0, 4.0, 0.0, 0.0]
    qc.delete_collection(name)


def test_payload_selectors_are_json_paths(qc: QdrantClient) -> None:
    """`a.b` keeps or drops b inside a, `l[].x` x inside each element (Qdrant's own
    test_payload_selectors); a list of vector names without "" asks for no vector."""
    qc.create_collection("sel", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.DOT))
    payload = {"a": {"b": 3, "c": "keep"}, "t": 1, "l": [{"x": 1, "y": 2}, {"x": 3}]}
    qc.upsert("sel", [m.PointStruct(id=1, vector=VECTORS[0].tolist(), payload=payload)])

    def shown(selector: object) -> object:
        return qc.retrieve("sel", [1], with_payload=selector)[0].payload  # type: ignore[arg-type]

    assert shown(m.PayloadSelectorInclude(include=["a.b"])) == {"a": {"b": 3}}
    assert shown(m.PayloadSelectorExclude(exclude=["a.b"])) == {
        "a": {"c": "keep"},
        "t": 1,
        "l": [{"x": 1, "y": 2}, {"x": 3}],
    }
    assert shown(["a.c", "t"]) == {"a": {"c": "keep"}, "t": 1}
    assert shown(m.PayloadSelectorInclude(include=["l[].x"])) == {"l": [{"x": 1}, {"x": 3}]}
    # a null is a value the path reaches: it was dropped with the key (qdrant's engine keeps it)
    nulls = {"n": None, "s": [{"x": None}, {"x": 1}]}
    qc.upsert("sel", [m.PointStruct(id=2, vector=VECTORS[1].tolist(), payload=nulls)])
    selected = qc.retrieve(
        "sel", [2], with_payload=m.PayloadSelectorInclude(include=["n", "s[].x"])
    )
    assert selected[0].payload == nulls
    assert qc.retrieve("sel", [1], with_vectors=["image"])[0].vector is None
    assert qc.retrieve("sel", [1], with_vectors=True)[0].vector is not None


def test_payload_selectors_through_arrays_cut_as_qdrants_own_engine(qc: QdrantClient) -> None:
    """Qdrant walks a payload path by path, an array element's path ending in `[]`: a scalar
    element beside objects stayed out of `a.g[].h`, `x[][].y` found nothing, `a.b.nope` left no
    `a`, and an exclude of `a.g[]` took the key itself, `x[].y` an element of a nested array."""
    local = QdrantClient(":memory:")
    payload = {"a": {"g": [{"h": 1, "i": 2}, {"h": 3}, 5], "b": {"c": 1}}, "x": [[{"y": 1}]]}
    point = m.PointStruct(id=1, vector=VECTORS[0].tolist(), payload=payload)
    for client in (qc, local):
        client.create_collection("arr", vectors_config=m.VectorParams(size=DIM, distance="Dot"))
        client.upsert("arr", [point])
    paths = ["a.g[].h", "x[][].y", "a.b.nope", "a.g[]", "x[].y", "a.g", "a.h", "x[]", "a.g[0]"]
    for path in paths:
        for selector in (
            m.PayloadSelectorInclude(include=[path]),
            m.PayloadSelectorExclude(exclude=[path]),
        ):
            got = qc.retrieve("arr", [1], with_payload=selector)[0].payload
            want = local.retrieve("arr", [1], with_payload=selector)[0].payload
            assert got == want, (selector, got, want)
    local.close()


@pytest.mark.parametrize("distance", [m.Distance.EUCLID, m.Distance.COSINE, m.Distance.DOT])
def test_recommend_strategies_score_as_qdrants_own_engine(qc: QdrantClient, distance: str) -> None:
    """qdrant-client's in-process engine is Qdrant's scoring written in Python. Under Euclid,
    best_score came back negated (the best hit scored lowest), sum_scores ranked by -d where
    Qdrant sums -d^2, and score_threshold kept Euclid's strategy scores above it."""
    name = f"reco_{distance.lower()}"
    local = QdrantClient(":memory:")
    vectors = np.random.default_rng(3).normal(size=(300, 16)).astype(np.float32)
    points = [m.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(vectors)]
    for client in (qc, local):
        client.create_collection(name, vectors_config=m.VectorParams(size=16, distance=distance))
        client.upsert(name, points=points, wait=True)
    for strategy in (m.RecommendStrategy.BEST_SCORE, m.RecommendStrategy.SUM_SCORES):
        query = m.RecommendQuery(
            recommend=m.RecommendInput(positive=[3, 17, 256], negative=[9, 200], strategy=strategy)
        )
        want = local.query_points(name, query=query, limit=8).points
        got = qc.query_points(name, query=query, limit=8).points
        assert [p.id for p in got] == [p.id for p in want], (strategy, got, want)
        np.testing.assert_allclose([p.score for p in got], [p.score for p in want], rtol=1e-3)
        # Qdrant checks a threshold by the distance's order, custom scores too (Euclid: kept
        # while below it); nestvec kept Euclid's strategy scores above it, the opposite points
        for threshold in (want[4].score - 1e-6, want[0].score + 1e-3, want[-1].score - 1e-3):
            cut = qc.query_points(name, query=query, limit=8, score_threshold=threshold).points
            ref = local.query_points(name, query=query, limit=8, score_threshold=threshold).points
            assert [p.id for p in cut] == [p.id for p in ref], (strategy, threshold, cut, ref)
        for offset in (0, 2):
            threshold = want[0].score + 1e-3
            cut = qc.query_points(
                name, query=query, limit=3, offset=offset, score_threshold=threshold
            ).points
            ref = local.query_points(
                name, query=query, limit=3, offset=offset, score_threshold=threshold
            ).points
            assert [p.id for p in cut] == [p.id for p in ref], (strategy, offset, cut, ref)
    local.close()


@pytest.mark.parametrize("distance", [m.Distance.COSINE, m.Distance.DOT, m.Distance.EUCLID])
def test_nearest_with_mmr_picks_as_qdrants_own_engine(
    qc: QdrantClient, server: LiveServer, distance: str
) -> None:
    """`{"nearest": v, "mmr": {...}}` (langchain-qdrant's max_marginal_relevance_search) was a
    422. The picks, their order and their scores (the similarity to the query) now equal
    qdrant-client's in-process engine, with a filter, an offset and a score threshold too."""
    name = f"mmr_{distance.lower()}"
    local = QdrantClient(":memory:")
    rng = np.random.default_rng(11)
    # clusters of near-duplicates: plain nearest returns one cluster, MMR spreads out
    centres = rng.normal(size=(6, 16))
    vectors = (centres[rng.integers(0, 6, 240)] + 0.05 * rng.normal(size=(240, 16))).astype(
        np.float32
    )
    points = [
        m.PointStruct(id=i, vector=v.tolist(), payload={"odd": i % 2})
        for i, v in enumerate(vectors)
    ]
    for client in (qc, local):
        client.create_collection(name, vectors_config=m.VectorParams(size=16, distance=distance))
        client.upsert(name, points=points, wait=True)
    query = (centres[0] + 0.1 * rng.normal(size=16)).tolist()
    odd = m.Filter(must=[m.FieldCondition(key="odd", match=m.MatchValue(value=1))])
    cases = [
        {"mmr": m.Mmr(diversity=0.5, candidates_limit=60), "limit": 8},
        {"mmr": m.Mmr(diversity=0.9, candidates_limit=100), "limit": 6, "query_filter": odd},
        {"mmr": m.Mmr(diversity=0.0, candidates_limit=30), "limit": 5, "offset": 2},
        {"mmr": m.Mmr(), "limit": 7},  # defaults: diversity 0.5, candidates = limit
        # past the service's k cap (1000), within Qdrant's own (16384): it was a 422
        {"mmr": m.Mmr(diversity=0.3, candidates_limit=1200), "limit": 5},
    ]
    plain = qc.query_points(name, query=query, limit=8).points
    for case in cases:
        mmr = case.pop("mmr")
        nearest = m.NearestQuery(nearest=query, mmr=mmr)
        want = local.query_points(name, query=nearest, **case).points  # type: ignore[arg-type]
        got = qc.query_points(name, query=nearest, **case).points  # type: ignore[arg-type]
        assert [p.id for p in got] == [p.id for p in want], (mmr, got, want)
        np.testing.assert_allclose([p.score for p in got], [p.score for p in want], rtol=1e-4)
    spread = qc.query_points(
        name, query=m.NearestQuery(nearest=query, mmr=m.Mmr(diversity=0.9, candidates_limit=240))
    ).points
    assert {p.id for p in spread} != {p.id for p in plain[: len(spread)]}
    for bad, field in (
        ({"diversity": 1.5}, "diversity"),
        ({"candidates_limit": -1}, "candidates_limit"),
        ({"candidates_limit": 16385}, "candidates_limit"),
        ({"lambda": 0.5}, "mmr takes"),
    ):
        body = {"query": {"nearest": query, "mmr": bad}}
        response = httpx.post(f"{server.url}/collections/{name}/points/query", json=body)
        assert response.status_code == 422 and field in response.text, response.text
    local.close()


@pytest.mark.parametrize("distance", [m.Distance.COSINE, m.Distance.EUCLID])
def test_a_score_equal_to_the_threshold_is_left_out_as_by_qdrants_engine(
    qc: QdrantClient, distance: str
) -> None:
    """qdrant-client's engine keeps only scores past `score_threshold` ("only higher scores
    will be returned"); a hit scoring exactly the threshold was kept here."""
    name = f"edge_{distance.lower()}"
    local = QdrantClient(":memory:")
    # scores exact in float32 and float64 alike: cosine 1, 0, -1; distances 1 to 4
    vectors = [[1, 0], [0, 2], [-3, 0], [0, -4], [2, 0], [0, 1]]
    if distance == m.Distance.EUCLID:
        vectors = [[1, 0], [0, 2], [3, 0], [0, 4], [-2, 0], [0, -1]]
    points = [m.PointStruct(id=i, vector=[float(x) for x in v]) for i, v in enumerate(vectors)]
    for client in (qc, local):
        client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=distance))
        client.upsert(name, points=points, wait=True)
    query = [1.0, 0.0] if distance == m.Distance.COSINE else [0.0, 0.0]
    scores = [p.score for p in qc.query_points(name, query=query, limit=6).points]
    for threshold in scores:
        want = local.query_points(name, query=query, limit=6, score_threshold=threshold).points
        got = qc.query_points(name, query=query, limit=6, score_threshold=threshold).points
        # ties (equal scores) may come in either order: compare who passed
        assert sorted(p.id for p in got) == sorted(p.id for p in want), (threshold, got, want)
    local.close()


@pytest.mark.parametrize("distance", [m.Distance.DOT, m.Distance.EUCLID])
def test_exact_search_finds_every_true_neighbour(qc: QdrantClient, distance: str) -> None:
    """`exact: true` was accepted and ignored: on a sparse graph (m=4, ef_construct=16) about a
    quarter of the top 100 went missing. It now scores every point the filter keeps, equal to
    qdrant-client's in-process engine, with and without a filter, after updates and deletes."""
    name, local = f"exact_{distance.lower()}", QdrantClient(":memory:")
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(300, 4)).astype(np.float32)
    points = [
        m.PointStruct(id=i, vector=v.tolist(), payload={"n": i}) for i, v in enumerate(vectors)
    ]
    moved = [m.PointStruct(id=i, vector=rng.normal(size=4).tolist()) for i in range(0, 60, 3)]
    for client in (qc, local):
        sparse = m.HnswConfigDiff(m=4, ef_construct=16)
        config = m.VectorParams(size=4, distance=distance)
        client.create_collection(name, vectors_config=config, hnsw_config=sparse)
        client.upsert(name, points=points, wait=True)
        client.upsert(name, points=moved, wait=True)
        client.delete(name, points_selector=m.PointIdsList(points=list(range(100, 130))))
    exact = m.SearchParams(exact=True)
    odd = m.Filter(must_not=[m.FieldCondition(key="n", range=m.Range(lt=150))])
    for query in rng.normal(size=(10, 4)).tolist():
        for flt in (None, odd):
            ranked = local.query_points(name, query=query, limit=300, query_filter=flt).points
            true_score = {p.id: p.score for p in ranked}
            got = qc.query_points(
                name, query=query, limit=100, query_filter=flt, search_params=exact
            ).points
            # the true top 100 (a near-tie may swap places: scores are compared, not ids)
            assert len({p.id for p in got}) == len(got) == min(100, len(ranked))
            np.testing.assert_allclose(
                [p.score for p in got], [p.score for p in ranked[:100]], rtol=1e-5, atol=1e-5
            )
            np.testing.assert_allclose(
                [p.score for p in got], [true_score[p.id] for p in got], rtol=1e-5, atol=1e-5
            )
    local.close()


def test_a_null_in_set_payload_removes_the_key_as_qdrant_does(qc: QdrantClient) -> None:
    """It stored the null (Qdrant's merge removes the key): `is_null` and `is_empty` answered
    differently afterwards. Top level and under a `key`, by ids and by filter."""
    local = QdrantClient(":memory:")
    payload = {"k": 2, "gone": 5, "obj": {"a": 1, "b": 2}}
    points = [m.PointStruct(id=i, vector=[1.0, float(i)], payload=payload) for i in range(4)]
    first = m.Filter(must=[m.HasIdCondition(has_id=[0, 1])])
    for client in (qc, local):
        client.create_collection("nulls", vectors_config=m.VectorParams(size=2, distance="Dot"))
        client.upsert("nulls", points=points, wait=True)
        client.set_payload("nulls", payload={"gone": None, "k": 3}, points=first)
        client.set_payload("nulls", payload={"a": None, "c": None, "d": 4}, key="obj", points=[3])
    for client in (qc, local):
        null = m.Filter(must=[m.IsNullCondition(is_null=m.PayloadField(key="gone"))])
        assert client.count("nulls", count_filter=null).count == 0
    got, want = (c.retrieve("nulls", ids=[0, 1, 2, 3]) for c in (qc, local))
    assert [p.payload for p in got] == [p.payload for p in want]
    assert got[0].payload == {"k": 3, "obj": {"a": 1, "b": 2}}
    assert got[3].payload == {"k": 2, "gone": 5, "obj": {"b": 2, "d": 4}}
    local.close()


def test_payload_keys_with_a_dot_are_quoted_as_qdrant_quotes_them(qc: QdrantClient) -> None:
    """`"x.y"` in set_payload's `key` and in delete_payload's keys is one key holding a dot. The
    quotes were kept as characters: set_payload wrote `'"x': {'y"': ...}` and the deletes removed
    nothing, each answered `completed`. An unbalanced quote or an array step is refused."""
    local = QdrantClient(":memory:")
    payload = {"x.y": 5, "d": {"a.b": 1, "c": 2}, "e": {"f": {"g": 1}}}
    points = [m.PointStruct(id=i, vector=[1.0, float(i)], payload=payload) for i in range(4)]
    for client in (qc, local):
        client.create_collection("dots", vectors_config=m.VectorParams(size=2, distance="Dot"))
        client.upsert("dots", points=points, wait=True)
        client.set_payload("dots", payload={"q": 1}, key='"x.y"', points=[0])
        client.set_payload("dots", payload={"h": 2}, key='e."f"', points=[1])
        client.delete_payload("dots", keys=['d."a.b"', '"x.y"'], points=[2])
        client.delete_payload("dots", keys=["e.f.g", "d.c"], points=[3])
    got, want = (c.retrieve("dots", ids=[0, 1, 2, 3]) for c in (qc, local))
    assert [p.payload for p in got] == [p.payload for p in want]
    assert got[0].payload == {"x.y": {"q": 1}, "d": {"a.b": 1, "c": 2}, "e": {"f": {"g": 1}}}
    assert got[2].payload == {"d": {"c": 2}, "e": {"f": {"g": 1}}}
    for key in ['"x.y', "l[0]", "a..b", '""']:
        with pytest.raises(UnexpectedResponse) as refused:
            qc.set_payload("dots", payload={"q": 1}, key=key, points=[0])
        assert refused.value.status_code == 422, key
    assert [p.payload for p in qc.retrieve("dots", ids=[0])] == [got[0].payload]
    local.close()

"""`nestvec.client` against a live `nestvec serve`: every method group, errors as exceptions with
the service's code, batched uploads, and the async client on the same calls."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from face_photos import KNOWN, photo
from support import LiveServer

from nestvec.client import AsyncClient, BadRequest, Client, Conflict, NotFound
from service.schemas.collections import CollectionInfo
from service.schemas.search import ScoredPoint

DIM, N = 8, 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("client") / "data").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(size=(N, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def nv(server: LiveServer, vectors: np.ndarray) -> Iterator[Client]:
    with Client(server.url) as client:
        client.create_collection("vecs", dim=DIM, payload_indexes={"group": "keyword"})
        points = (
            {"id": f"p{i}", "vector": v, "payload": {"group": "ab"[i % 2], "n": i}}
            for i, v in enumerate(vectors)
        )
        assert client.upload_points("vecs", points, batch_size=64, progress=False) == N
        yield client


def test_health_ready_and_encoders(nv: Client) -> None:
    assert nv.health() == {"status": "ok"}
    assert nv.ready()["status"] == "ready"
    names = {e["name"] for e in nv.encoders()}
    assert {"minilm", "face-dlib"} <= names


def test_collections(nv: Client) -> None:
    info = nv.get_collection("vecs")
    assert isinstance(info, CollectionInfo)
    assert (info.dim, info.count, info.payload_indexes) == (DIM, N, {"group": "keyword"})
    assert "vecs" in {c.name for c in nv.list_collections()}
    assert nv.collection_exists("vecs") and not nv.collection_exists("nope")
    with pytest.raises(Conflict) as exists:
        nv.create_collection("vecs", dim=DIM)
    assert (exists.value.status, exists.value.code) == (409, "collection_exists")
    with pytest.raises(NotFound) as missing:
        nv.get_collection("nope")
    assert (missing.value.status, missing.value.code) == (404, "collection_not_found")
    made = nv.create_collection("tmp-ivf", dim=DIM, index="ivf", index_params={"nlist": 64})
    assert made.index.type == "ivf" and made.name == "tmp-ivf"
    with pytest.raises(Conflict) as untrained:
        nv.train("tmp-ivf")
    assert untrained.value.code == "not_enough_points"
    assert nv.create_payload_index("tmp-ivf", "a/b", "integer").field_schema == "integer"
    assert nv.delete_payload_index("tmp-ivf", "a/b") is True
    with pytest.raises(NotFound) as no_index:
        nv.delete_payload_index("tmp-ivf", "a/b")
    assert no_index.value.code == "payload_index_not_found"
    assert nv.delete_collection("tmp-ivf") is True
    assert not nv.collection_exists("tmp-ivf")


def test_points_get_scroll_count_delete(nv: Client, vectors: np.ndarray) -> None:
    got = nv.get_points("vecs", ["p3", "p4"], with_vector=True)
    assert [p.id for p in got] == ["p3", "p4"] and got[0].payload == {"group": "b", "n": 3}
    assert np.allclose(got[0].vector, vectors[3], atol=1e-6)
    seen, offset = [], None
    while True:
        page = nv.scroll("vecs", limit=128, offset=offset, with_payload=False)
        seen += [p.id for p in page.points]
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert len(seen) == N == len(set(seen)) and page.points[0].payload is None
    group_a = {"must": [{"key": "group", "match": {"value": "a"}}]}
    assert nv.count("vecs") == N and nv.count("vecs", group_a) == N // 2
    with pytest.raises(BadRequest) as bad:
        nv.count("vecs", {"must": [{"key": "n", "range": {"gt": "x"}}]})
    assert (bad.value.status, bad.value.code) == (422, "invalid_filter")
    nv.upsert("vecs", [{"id": "x1", "vector": [1.0] * DIM}, {"id": "x2", "vector": [2.0] * DIM}])
    nv.upsert("vecs", [{"id": "x3", "vector": [3.0] * DIM, "payload": {"drop": True}}])
    assert nv.delete_points("vecs", ["x1", "x2"]) == 2
    drop = {"must": [{"key": "drop", "match": {"value": True}}]}
    assert nv.delete_points("vecs", filter=drop) == 1 and nv.count("vecs") == N
    assert nv.get_points("vecs", ["x1", "p1"]) == nv.get_points("vecs", ["p1"])  # gone: left out
    assert nv.get_points("vecs", []) == []  # it was the first page of every point


def test_arguments_a_request_model_refuses_raise_bad_request(
    nv: Client, server: LiveServer
) -> None:
    """They raised pydantic's ValidationError, not the NestvecError the README promises."""
    for call in (
        lambda: nv.search("vecs", [1.0] * DIM, k=0),
        lambda: nv.search("vecs", [1.0] * DIM, fliter={}),
        lambda: nv.upsert("vecs", [{"id": "z", "vectr": [1.0] * DIM}]),
        lambda: nv.upload_points("vecs", [{"id": "z", "vector": [1.0] * DIM}], batch_size=0),
    ):
        with pytest.raises(BadRequest) as bad:
            call()
        assert bad.value.code == "validation_error" and bad.value.status is None

    async def go() -> str:
        async with AsyncClient(server.url) as anv:
            assert await anv.get_points("vecs", []) == []
            try:
                await anv.search("vecs", [1.0] * DIM, k=0)
            except BadRequest as exc:
                return exc.field or ""
        return "no error"

    assert asyncio.run(go()) == "k"


def test_numpy_values_nan_and_slashed_names_meet_the_documented_errors(
    nv: Client, server: LiveServer
) -> None:
    """NaN vectors raised a bare ValueError (httpx's JSON encoding), numpy payload values a
    pydantic serialisation error, a numpy id a BadRequest on `id.str`; a collection name with
    "/" reached another route (collection_exists("vecs/points") was True)."""
    nv.create_collection("np", dim=3)
    point = {"id": np.int64(3), "vector": np.ones(3), "payload": {"s": np.float32(0.5)}}
    nv.upsert("np", [{**point, "payload": {"s": np.float32(0.5), "a": np.arange(2)}}])
    assert nv.get_points("np", ["3"])[0].payload == {"s": 0.5, "a": [0, 1]}
    for call in (
        lambda: nv.upsert("np", [{"id": "d", "vector": [float("nan"), 2.0, 3.0]}]),
        lambda: nv.upsert("np", [{"id": "d", "vector": np.array([np.inf, 2, 3])}]),
        lambda: nv.search("np", [float("nan"), 1.0, 1.0]),
    ):
        with pytest.raises(BadRequest) as bad:
            call()
        assert bad.value.code == "validation_error" and "finite" in str(bad.value)
    assert nv.count("np") == 1
    for call in (
        lambda: nv.collection_exists("vecs/points"),
        lambda: nv.get_collection("vecs/points"),
        lambda: nv.delete_collection("a/b"),
    ):
        with pytest.raises(BadRequest) as bad:
            call()
        assert bad.value.code == "invalid_collection_name"
    assert nv.collection_exists("vecs") and nv.count("vecs") == N

    async def go() -> str:
        async with AsyncClient(server.url) as anv:
            try:
                await anv.search("np", [float("nan"), 1.0, 1.0])
            except BadRequest as exc:
                return exc.code
        return "no error"

    assert asyncio.run(go()) == "validation_error"


def test_nan_payloads_numpy_arguments_and_bad_points_are_caught_before_sending(
    nv: Client, server: LiveServer
) -> None:
    """A NaN in a payload was stored as null (pydantic's JSON mode); numpy ids, examples and
    batch vectors were refused as no string; upload_points raised pydantic's own error and a
    tuple point an AttributeError."""
    nv.create_collection("np2", dim=3)
    nv.upsert("np2", [{"id": i, "vector": [1.0, i, 0.0]} for i in range(4)])
    for payload in ({"x": float("nan")}, {"a": [1.0, float("inf")]}):
        with pytest.raises(BadRequest) as bad:
            nv.upsert("np2", [{"id": "n", "vector": [1.0, 0.0, 0.0], "payload": payload}])
        assert "finite" in str(bad.value)
    assert nv.count("np2") == 4
    hits = nv.recommend("np2", positive=[np.array([1.0, 1.0, 0.0])], k=2).results
    assert len(hits) == 2
    batch = nv.search_batch("np2", [{"query": {"vector": np.array([1.0, 2.0, 0.0])}, "k": 1}])
    assert batch[0][0].id == "2"
    assert nv.delete_points("np2", [np.int64(0)]) + nv.delete_points("np2", np.array([1])) == 2
    for points in ([{"id": "z", "vector": np.zeros((2, 2))}], [("x", [1.0, 2.0, 3.0])]):
        with pytest.raises(BadRequest):
            nv.upload_points("np2", points, progress=False)  # type: ignore[arg-type]

    async def go() -> str:
        async with AsyncClient(server.url) as anv:
            try:
                await anv.upload_points("np2", [{"id": "z", "vector": np.zeros((2, 2))}])
            except BadRequest as exc:
                return exc.code
        return "no error"

    assert asyncio.run(go()) == "validation_error"
    assert nv.count("np2") == 2


def test_search_batch_and_recommend(nv: Client, vectors: np.ndarray) -> None:
    hits = nv.search("vecs", vectors[10], k=3)
    assert isinstance(hits[0], ScoredPoint) and hits[0].id == "p10"
    by_id = nv.search("vecs", {"id": "p10"}, k=3, params={"ef": 64})
    assert [h.id for h in by_id[:2]] == [h.id for h in hits[1:]]  # the point itself left out
    group_a = {"must": [{"key": "group", "match": {"value": "a"}}]}
    only_a = nv.search("vecs", list(map(float, vectors[11])), k=5, filter=group_a)
    assert len(only_a) == 5 and all(h.payload["group"] == "a" for h in only_a)
    batch = nv.search_batch("vecs", [{"query": {"vector": vectors[i].tolist()}} for i in (1, 2)])
    assert [b[0].id for b in batch] == ["p1", "p2"]
    rec = nv.recommend("vecs", positive=["p5"], k=4, with_payload=False)
    assert len(rec.results) == 4 and "p5" not in {h.id for h in rec.results}
    with pytest.raises(BadRequest) as bad:
        nv.search("vecs", [1.0, 2.0], k=3)
    assert bad.value.code == "dimension_mismatch"


def test_analysis_and_rebuild(nv: Client) -> None:
    lid = nv.intrinsic_dimension("vecs", k=10, lid_k=20, sample=200)
    assert lid.n == 200 and lid.dim == DIM and 2 < lid.mle < 12
    assert nv.plot(lid.plot_url).startswith(b"\x89PNG")
    recall = nv.recall("vecs", k=5, queries=20)
    assert recall.k == 5 and 0.5 <= recall.recall <= 1.0
    order = nv.insertion_order(
        "vecs", orders=["random"], seeds=[0], ef_search=[10], libraries=["hnswlib"],
        queries=20, sample=200,
    )  # fmt: skip
    assert order.recommended == "random"
    funnel = nv.funnel_recall("vecs", dims=[2, 4], k=5, queries=20)
    assert [t.dim for t in funnel.tiers] == [2, 4] and funnel.funnels[0].dims[0] == 2
    assert nv.rebuild("vecs", "random", seed=1).count == N
    with pytest.raises(BadRequest) as bad:
        nv.rebuild("vecs", "sideways")
    assert bad.value.code == "unknown_order"


def test_text_embed_rank_and_search(nv: Client) -> None:
    nv.create_collection("docs", encoder="minilm")
    texts = ["Cats purr when content.", "Stock markets fell on Monday.", "Dogs bark loudly."]
    nv.upsert("docs", [{"id": i, "text": t} for i, t in enumerate(texts)])
    assert nv.search("docs", "falling share prices", k=1)[0].id == "1"
    embedded = nv.embed("minilm", texts)
    assert embedded.dim == 384 and len(embedded.embeddings) == 3
    openai = nv.embeddings(texts[:2], "minilm", encoding_format="base64")
    row = np.frombuffer(base64.b64decode(openai.data[0].embedding), "<f4")
    assert row.shape == (384,) and openai.usage.prompt_tokens > 0
    ranked = nv.rank("kittens", documents=texts, encoder="minilm", top_n=2, return_documents=True)
    assert ranked.results[0].index == 0 and ranked.results[0].document.text == texts[0]
    by_ids = nv.rank("a barking pet", ids=["0", "2"], collection="docs", encoder="minilm")
    assert by_ids.results[0].id == "2"
    assert nv.rerank("kittens", texts)[0].index == 0
    with pytest.raises(NotFound) as missing:
        nv.embed("no-such-encoder", ["x"])
    assert missing.value.code == "encoder_not_found"


def test_faces_verify_and_upload(nv: Client, tmp_path: Path) -> None:
    (a1, a2), (b1, _) = KNOWN["person_01"], KNOWN["person_03"]
    image = lambda name: {"image_b64": base64.b64encode(photo(name)).decode()}  # noqa: E731
    assert nv.verify_faces(image(a1), image(a2)).same_person
    assert not nv.verify_faces(image(a1), image(b1)).same_person
    nv.create_collection("faces", encoder="face-dlib", index="flat")
    path = tmp_path / a1
    path.write_bytes(photo(a1))
    assert nv.upload_files("faces", [path, (b1, photo(b1))], ids=["alice", "bob"]) == 2
    embedded = nv.embed_files([path])
    assert embedded.items[0]["faces"] and len(embedded.embeddings) == 1
    stored = nv.verify_faces(image(a2), {"collection": "faces", "id": "alice#0"})
    assert stored.same_person


def test_async_client_gives_the_same_answers(
    nv: Client, server: LiveServer, vectors: np.ndarray
) -> None:
    async def go() -> tuple[object, ...]:
        async with AsyncClient(server.url) as anv:
            info = await anv.get_collection("vecs")
            hits = await anv.search("vecs", vectors[10], k=3)
            await anv.create_collection("async", dim=DIM)
            points = ({"id": i, "vector": vectors[i]} for i in range(50))
            sent = await anv.upload_points("async", points, batch_size=16, progress=False)
            try:
                await anv.get_collection("nope")
            except NotFound as exc:
                code = exc.code
            return info, hits, sent, await anv.count("async"), code

    info, hits, sent, count, code = asyncio.run(go())
    assert info == nv.get_collection("vecs")
    assert hits == nv.search("vecs", vectors[10], k=3)
    assert (sent, count, code) == (50, 50, "collection_not_found")


def test_ingest_url_reports_a_refusal_in_one_line(server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"id": "a", "v": [1, 0]}\n', encoding="utf-8")
    argv = [
        Path(sys.executable).parent / "nestvec", "ingest", source, "--url", server.url,
        "--collection", "bad name!", "--vector-field", "v", "--dim", "2", "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(list(map(str, argv)), capture_output=True, text=True, check=False)
    assert done.returncode == 2  # the server's 4xx before a point was sent: the command's error
    line = done.stderr.strip()
    assert "\n" not in line and "invalid_collection_name:" in line, line

"""Faces over REST: embed (JSON and multipart), one point per face, search and verify."""

from __future__ import annotations

import json
from typing import Any

from face_photos import GROUP, KNOWN, b64, group_photo, photo
from fastapi.testclient import TestClient
from support import assert_error


def create_faces(client: TestClient) -> None:
    body = {"name": "faces", "encoder": "face-dlib", "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201


def test_embed_json_and_upload_agree(client: TestClient, face_encoder: Any) -> None:
    data = photo("img5.jpg")
    r = client.post("/v1/embed", json={"encoder": "face-dlib", "inputs": [b64(data)]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dim"] == 128 and len(body["embeddings"]) == 1
    face = body["items"][0]["faces"][0]
    assert set(face) >= {"box", "landmarks", "score", "embedding", "descriptor_norm"}
    assert face["embedding"] == body["embeddings"][0]
    up = client.post("/v1/embed/upload", files=[("files", ("a.jpg", data, "image/jpeg"))])
    assert up.status_code == 200, up.text
    assert up.json()["items"][0]["faces"][0]["box"] == face["box"]
    assert up.json()["embeddings"] == body["embeddings"]


def test_group_photo_gives_one_point_per_face(client: TestClient, face_encoder: Any) -> None:
    create_faces(client)
    point = {"id": "group", "input": b64(group_photo()), "payload": {"album": "test"}}
    r = client.put("/v1/collections/faces/points", json={"points": [point]})
    assert r.json() == {"upserted": 3}, r.text
    got = client.get("/v1/collections/faces/points").json()["points"]
    assert sorted(p["id"] for p in got) == ["group#0", "group#1", "group#2"]
    for p in got:
        assert p["payload"]["album"] == "test" and p["payload"]["source_id"] == "group"
        left, top, right, bottom = p["payload"]["box"]
        assert 0 <= left < right and 0 <= top < bottom
    # each of the three people finds their own face in the group photo
    for i, name in enumerate(GROUP):
        query = {"query": {"input": b64(photo(name))}, "k": 1}
        top = client.post("/v1/collections/faces/search", json=query).json()["results"][0]
        left, _, right, _ = top["payload"]["box"]
        offset = sum(_width(n) for n in GROUP[:i])
        assert offset <= left and right <= offset + _width(name), (name, top)


def _width(name: str) -> int:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(photo(name))).width


def test_upload_points_then_search_and_verify(client: TestClient, face_encoder: Any) -> None:
    create_faces(client)
    stored = [names[0] for names in KNOWN.values()]
    files = [("files", (n, photo(n), "image/jpeg")) for n in stored]
    r = client.post("/v1/collections/faces/points/upload", files=files)
    assert r.json() == {"upserted": 4}, r.text
    for person, (_, probe) in KNOWN.items():
        query = {"query": {"input": b64(photo(probe))}, "k": 2}
        hits = client.post("/v1/collections/faces/search", json=query).json()["results"]
        assert hits[0]["id"] == f"{KNOWN[person][0]}#0", (person, hits)
        assert hits[0]["score"] > hits[1]["score"]
    a, b = KNOWN["person_01"]
    same = {"a": b64(photo(a)), "b": {"collection": "faces", "id": f"{a}#0"}}
    r = client.post("/v1/faces/verify", json=same)
    assert r.status_code == 200, r.text
    assert r.json()["distance"] < 1e-4 and r.json()["same_person"] is True
    pair = {"a": b64(photo(b)), "b": {"collection": "faces", "id": f"{a}#0"}}
    body = client.post("/v1/faces/verify", json=pair).json()
    assert body["same_person"] is True and body["threshold"] == 0.6
    other = KNOWN["person_03"][1]
    body = client.post("/v1/faces/verify", json={"a": b64(photo(b)), "b": b64(photo(other))}).json()
    assert body["same_person"] is False and body["distance"] > 0.6
    strict = {**pair, "threshold": 0.05}
    assert client.post("/v1/faces/verify", json=strict).json()["same_person"] is False
    # JSON's 1e400 is infinity: every pair was the same person, threshold shown as null
    endless = b'{"a": {"collection": "faces", "id": "%s#0"}, "b": %s, "threshold": 1e400}'
    body = endless % (a.encode(), json.dumps(b64(photo(other))).encode())
    r = client.post("/v1/faces/verify", content=body, headers={"content-type": "application/json"})
    assert_error(r, 422, "validation_error", "threshold")
    gone = {"a": b64(photo(b)), "b": {"collection": "faces", "id": "nope#0"}}
    assert_error(client.post("/v1/faces/verify", json=gone), 404, "point_not_found", "b.id")
    photo_id = {"a": b64(photo(b)), "b": {"collection": "faces", "id": a}}  # not its face's
    r = client.post("/v1/faces/verify", json=photo_id)
    assert_error(r, 404, "point_not_found", "b.id")
    assert f"'{a}#0'" in r.json()["message"]  # the id to send instead
    plain = {"name": "plain", "dim": 128}
    assert client.post("/v1/collections", json=plain).status_code == 201
    plain_ref = {"collection": "plain", "id": "p"}
    r = client.post("/v1/faces/verify", json={"a": b64(photo(b)), "b": plain_ref})
    assert_error(r, 422, "not_verifiable", "b.collection")
    assert "plain vectors (no encoder)" in r.json()["message"]  # it said "holds None vectors"
    nowhere = {"a": b64(photo(b)), "b": {"collection": "nope", "id": "x"}}  # it said `name`
    r = client.post("/v1/faces/verify", json=nowhere)
    assert_error(r, 404, "collection_not_found", "b.collection")
    # an image side takes max_faces as any face input does (it was an unknown field)
    group = {"image_b64": b64(group_photo())["image_b64"], "max_faces": 2}
    r = client.post("/v1/faces/verify", json={"a": group, "b": b64(photo(b))})
    assert_error(r, 422, "too_many_faces")
    r = client.post("/v1/faces/verify", json={"a": {**group, "max_faces": 3}, "b": b64(photo(b))})
    assert r.status_code == 200, r.text

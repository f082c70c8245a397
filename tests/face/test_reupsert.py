"""Upserting a photo again replaces all of its faces; deleting it deletes them."""

from __future__ import annotations

from typing import Any

from face_photos import b64, group_photo, photo
from fastapi.testclient import TestClient
from support import assert_error

POINTS = "/v1/collections/faces/points"


def put(client: TestClient, points: list[dict[str, Any]]) -> int:
    r = client.put(POINTS, json={"points": points})
    assert r.status_code == 200, r.text
    return int(r.json()["upserted"])


def stored_ids(client: TestClient) -> list[str]:
    return sorted(p["id"] for p in client.get(POINTS).json()["points"])


def count(client: TestClient) -> int:
    return int(client.get("/v1/collections/faces").json()["count"])


def test_reupsert_with_fewer_faces_keeps_only_the_new_ones(
    client: TestClient, face_encoder: Any
) -> None:
    body = {"name": "faces", "encoder": "face-dlib", "index": {"type": "hnsw"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    group = b64(group_photo())  # three faces
    # "g_1" and "gx1": a LIKE 'g_1#%' would take one for the other
    assert put(client, [{"id": "g_1", "input": group}, {"id": "gx1", "input": group}]) == 6
    assert count(client) == 6
    assert put(client, [{"id": "g_1", "input": b64(photo("img5.jpg")), "payload": {"v": 2}}]) == 1
    assert stored_ids(client) == ["g_1#0", "gx1#0", "gx1#1", "gx1#2"]
    assert count(client) == 4
    # the search index let go of the replaced faces too: only g_1#0 answers for g_1
    query = {"query": {"input": b64(photo("img5.jpg"))}, "k": 10}
    hits = client.post("/v1/collections/faces/search", json=query).json()["results"]
    assert sorted(h["id"] for h in hits) == stored_ids(client)
    assert hits[0]["id"] == "g_1#0" and hits[0]["payload"]["v"] == 2

    # the same photo id twice in one request: the last one wins, not a mix of both
    twice = [{"id": "gx1", "input": b64(photo("img5.jpg"))}, {"id": "gx1", "input": group}]
    assert put(client, twice) == 3
    assert stored_ids(client) == ["g_1#0", "gx1#0", "gx1#1", "gx1#2"]

    # deleting a photo by its id deletes its faces
    r = client.request("DELETE", POINTS, json={"ids": ["gx1"]})
    assert r.json() == {"deleted": 3}
    assert stored_ids(client) == ["g_1#0"] and count(client) == 1
    hits = client.post("/v1/collections/faces/search", json=query).json()["results"]
    assert [h["id"] for h in hits] == ["g_1#0"]

    # a photo under a face's id: its face became `g_1#0#0`, no one's, and stayed after
    # `DELETE g_1`; an unrelated photo `x#1` replaced face 1 of `x`
    r = client.put(POINTS, json={"points": [{"id": "g_1#0", "input": group}]})
    assert_error(r, 422, "invalid_point_id", "points[0].id")
    assert stored_ids(client) == ["g_1#0"]
    assert put(client, [{"id": "g_1#x", "input": b64(photo("img5.jpg"))}]) == 1  # not a part id

"""`nestvec ingest` of a folder of photos with face-dlib: one point per face, then served."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from face_photos import b64, faceless_photo, group_photo, photo
from fastapi.testclient import TestClient


def test_ingest_a_photo_folder_into_a_face_collection(
    tmp_path: Path, make_client: Callable[..., TestClient], face_encoder: Any
) -> None:
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    (folder / "img5.jpg").write_bytes(photo("img5.jpg"))
    (folder / "trip" / "img50.jpg").write_bytes(photo("img50.jpg"))
    (folder / "trip" / "group.jpg").write_bytes(group_photo())
    (folder / "wall.jpg").write_bytes(faceless_photo())
    data, summary = tmp_path / "data", tmp_path / "summary.json"
    nestvec = str(Path(sys.executable).parent / "nestvec")
    # the folder named relative to the working directory, as people type it (its files were
    # looked up under photos/photos/)
    command = [nestvec, "ingest", "photos", "--collection", "faces", "--encoder", "face-dlib"]
    command += ["--data-dir", str(data), "--no-progress", "--summary-json", str(summary)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(summary.read_text())
    assert report["count"] == 5  # 1 + 1 + 3 faces
    assert report["stats"]["skipped"] == {"no_face": 1}
    assert any("wall.jpg" in note and "no face" in note for note in report["stats"]["examples"])

    client = make_client(data_dir=data)
    points = client.get("/v1/collections/faces/points").json()["points"]
    ids = sorted(p["id"] for p in points)
    assert ids == ["img5.jpg#0", "trip/group.jpg#0", "trip/group.jpg#1", "trip/group.jpg#2"] + [
        "trip/img50.jpg#0"
    ]
    group = [p for p in points if p["payload"]["source_id"] == "trip/group.jpg"]
    assert all(p["payload"]["folder"] == "trip" and len(p["payload"]["box"]) == 4 for p in group)
    query = {"query": {"input": b64(photo("img11.jpg"))}, "k": 1}  # person_01, like img5
    top = client.post("/v1/collections/faces/search", json=query).json()["results"][0]
    assert top["id"] == "img5.jpg#0"

"""A server holding only vector collections loads no model: encoders load on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings

heavy = ("torch", "sentence_transformers", "transformers", "torch_geometric", "dlib")
with TestClient(create_app(Settings(data_dir=sys.argv[1]))) as client:
    spec = {"name": "v", "dim": 4, "index": {"type": "hnsw"}}
    assert client.post("/v1/collections", json=spec).status_code == 201
    points = [{"id": str(i), "vector": [i, 1, 0, 0]} for i in range(10)]
    assert client.put("/v1/collections/v/points", json={"points": points}).status_code == 200
    search = {"query": {"vector": [1, 1, 0, 0]}, "k": 3}
    assert client.post("/v1/collections/v/search", json=search).status_code == 200
    assert client.get("/v1/encoders").status_code == 200
    idle = [m for m in heavy if m in sys.modules]
    embed = client.post("/v1/embed", json={"encoder": "minilm", "inputs": ["a cat"]})
    print(json.dumps({"idle": idle, "embed": embed.status_code, "torch": "torch" in sys.modules}))
"""


def test_vector_collections_load_no_model_until_an_encoder_is_used(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"idle": [], "embed": 200, "torch": True}

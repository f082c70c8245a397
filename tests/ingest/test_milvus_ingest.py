"""`nestvec ingest --index milvus`: the build lands in Milvus (Lite here), also when Ray encodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import milvus_lite_uri

from index import METRICS, Catalog
from ingest.summary import Summary

pymilvus = pytest.importorskip("pymilvus")

NESTVEC = str(Path(sys.executable).parent / "nestvec")
URI = milvus_lite_uri()  # one Milvus Lite for the module


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A real local Ray instance with two CPUs, shut down afterwards."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False)
    yield ray
    ray.shutdown()


def milvus_rows(data_dir: Path, name: str, uri: str) -> int:
    """Rows the collection's Milvus collection holds, read with a plain pymilvus client."""
    catalog = Catalog(data_dir, {"milvus": {"uri": uri}})
    milvus_name = catalog.get(name).params.collection
    catalog.close()
    client = pymilvus.MilvusClient(uri=uri)
    return len(client.query(milvus_name, filter="id >= 0", output_fields=["id"], limit=16384))


def test_cli_builds_a_vector_collection_into_milvus(tmp_path: Path) -> None:
    vectors = np.random.default_rng(3).normal(size=(250, 12)).astype(np.float32)
    rows = [{"id": f"v{i}", "vec": v, "group": i % 5} for i, v in enumerate(vectors.tolist())]
    source = tmp_path / "vectors.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    uri = str(tmp_path / "cli-milvus.db")  # NESTVEC_MILVUS_URI: settings, not a flag
    command = [NESTVEC, "ingest", str(source), "--collection", "vecs", "--vector-field", "vec"]
    command += ["--dim", "12", "--metric", "l2", "--index", "milvus", "--params", "ef=128,M=8"]
    command += ["--data-dir", str(tmp_path / "data"), "--no-progress"]
    env = {**os.environ, "NESTVEC_MILVUS_URI": uri}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "built collection 'vecs'" in done.stdout
    assert milvus_rows(tmp_path / "data", "vecs", uri) == 250
    collection = Catalog(tmp_path / "data", {"milvus": {"uri": uri}}).get("vecs")
    assert collection.params.M == 8 and collection.config.index_params["uri"] is None
    flt = {"must": [{"key": "group", "match": {"value": 2}}]}
    hits = collection.search(vectors[:3], 5, filter=flt)
    metric = METRICS["l2"]
    for query, found in zip(vectors[:3], hits, strict=True):
        scores = metric.scores(metric.prepare(query[None]), vectors[2::5])[0]
        assert [h.id for h in found] == [f"v{2 + 5 * j}" for j in np.argsort(-scores)[:5]]
    collection.close()


def test_ray_encoded_build_writes_into_milvus(
    local_ray: Any,
    ingest: Callable[..., Summary],
    scifact_docs: Callable[[int], list[dict[str, Any]]],
    write_jsonl: Callable[..., Path],
    make_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    docs = scifact_docs(12)
    source = write_jsonl(tmp_path / "c.jsonl", docs)
    argv = [str(source), "--collection", "sci", "--encoder", "minilm", "--id-field", "_id"]
    argv += ["--text-field", "title", "--index", "milvus", "--milvus-uri", URI]
    summary = ingest(*argv, "--ray-address", "auto", "--batch-size", "4")
    assert summary.count == 12 and summary.encoded == 12
    assert milvus_rows(tmp_path / "data", "sci", URI) == 12
    client = make_client(data_dir=tmp_path / "data", milvus_uri=URI)
    query = {"query": {"text": docs[4]["title"]}, "k": 2}
    hits = client.post("/v1/collections/sci/search", json=query).json()["results"]
    assert hits[0]["id"] == docs[4]["_id"]

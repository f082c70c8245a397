"""Milvus backend vs local hnsw, both through the real REST service: recall@10 and throughput.

One `nestvec serve` subprocess (no encoders, Milvus Lite in its data dir) holds two collections
of the same vectors: `index: {type: hnsw}` and `index: {type: milvus}` (Milvus HNSW), both with
M=16, ef_construction=200. For each query beam width ef it reports recall@10 against exact float64
search (batch endpoint, 100 queries per request) and the difference milvus - hnsw (target: within
±0.01). Then the throughput of each at the default ef=64: single queries from 8 client threads and
the batch endpoint, as milvus ÷ hnsw ratios measured in the same run (rounds alternate the two).

Datasets:
  mnist    ann_mnist10k: 9,000 base and 1,000 query vectors, 784-d uint8 pixels, metric l2.
  scifact  the 5,183 corpus documents (title + text) encoded with the project's `minilm`
           encoder, and the 300 test-set queries (qrels/test.tsv) from queries.jsonl; cosine.
           Vectors are cached under --cache-dir (the first encode takes minutes on 2 cores).

    .venv/bin/python loadtest/bench_milvus.py [--datasets mnist scifact] [--rounds 2]
        [--milvus-uri http://127.0.0.1:19530 | --milvus-uri embedded]

`--milvus-uri` serves the milvus collection from a Milvus server instead of Milvus Lite:
`embedded` starts one with the `milvus` package (tests/embedded_milvus.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import (  # noqa: E402 - the shared helpers of the search benchmark
    DEFAULT_CACHE,
    SHARED_DATA,
    Dataset,
    K,
    LazyEncoder,
    encode_cached,
    load_mnist,
    post_all,
    recall,
    rest_ids,
    server,
    table,
)

BACKENDS = {
    "hnsw": {"type": "hnsw", "params": {"M": 16, "ef_construction": 200}},
    "milvus": {"type": "milvus", "params": {"M": 16, "ef_construction": 200}},
}
EF_GRID = (10, 16, 32, 64, 128, 256)
UPSERT_BATCH, SEARCH_BATCH, CLIENTS = 1000, 100, 8


def load_scifact_docs(cache_dir: Path) -> Dataset:
    """Corpus documents and test queries, encoded with minilm (cached)."""
    folder = SHARED_DATA / "scifact"
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")]
    texts = [f"{d['title']} {d['text']}".strip() for d in docs]
    test_ids = {
        line.split("\t")[0]
        for line in (folder / "qrels/test.tsv").read_text().split("\n")[1:]
        if line
    }
    queries = [json.loads(line) for line in (folder / "queries.jsonl").open(encoding="utf-8")]
    q_texts = [q["text"] for q in queries if q["_id"] in test_ids]
    cache_dir.mkdir(parents=True, exist_ok=True)
    encoder, vectors = LazyEncoder(), {}
    for part, pool in (("docs", texts), ("test-queries", q_texts)):
        digest = hashlib.sha256("\n".join(["minilm", *pool]).encode()).hexdigest()[:12]
        path = cache_dir / f"scifact-minilm-{part}-{digest}.npy"
        vectors[part] = encode_cached(pool, len(pool), path, encoder)
    ds = Dataset("scifact-docs", "cosine", vectors["docs"], vectors["test-queries"])
    ds.notes.append(f"{len(texts)} documents, {len(q_texts)} test queries")
    return ds


def fill(client: Any, name: str, ds: Dataset, index: dict[str, Any]) -> float:
    """Create and fill a collection over REST; seconds spent upserting."""
    from nestvec.client import Client
    from service.schemas.collections import IndexSpec

    api = Client(http=client)
    api.create_collection(
        name, dim=ds.base.shape[1], metric=ds.metric, index=IndexSpec.model_validate(index)
    )
    start = time.perf_counter()
    points = ({"id": i, "vector": v} for i, v in enumerate(ds.base))
    api.upload_points(name, points, batch_size=UPSERT_BATCH, progress=False)
    return time.perf_counter() - start


def batch_bodies(ds: Dataset, ef: int | None) -> list[bytes]:
    params = {} if ef is None else {"params": {"ef": ef}}
    return [
        json.dumps(
            {
                "searches": [
                    {"query": {"vector": q.tolist()}, "k": K, "with_payload": False, **params}
                    for q in ds.queries[lo : lo + SEARCH_BATCH]
                ]
            }
        ).encode()
        for lo in range(0, len(ds.queries), SEARCH_BATCH)
    ]


def measure(
    base: str, ds: Dataset, singles: list[bytes], rounds: int
) -> tuple[list[list[str]], dict[str, float], dict[str, float]]:
    """Recall@10 per ef (batch endpoint), then best-of-rounds wall seconds per backend."""
    recall_rows = []
    for ef in EF_GRID:
        found = {}
        for name in BACKENDS:
            _, res = post_all(base, f"/v1/collections/{name}/search/batch", batch_bodies(ds, ef), 1)
            found[name] = recall(rest_ids([h for r in res for h in r["results"]]), ds.gt)
        diff = found["milvus"] - found["hnsw"]
        recall_rows.append(
            [
                str(ef),
                f"{found['hnsw']:.4f}",
                f"{found['milvus']:.4f}",
                f"{diff:+.4f}",
                "yes" if abs(diff) <= 0.01 else "NO",
            ]
        )
    single = dict.fromkeys(BACKENDS, float("inf"))
    batch = dict.fromkeys(BACKENDS, float("inf"))
    default_batches = batch_bodies(ds, None)
    for name in BACKENDS:  # warm-up
        post_all(base, f"/v1/collections/{name}/search", singles[:20], 1)
    for _ in range(rounds):
        for name in BACKENDS:
            path = f"/v1/collections/{name}/search"
            single[name] = min(single[name], post_all(base, path, singles, CLIENTS)[0])
            batch[name] = min(batch[name], post_all(base, path + "/batch", default_batches, 1)[0])
    return recall_rows, single, batch


def bench(ds: Dataset, rounds: int) -> tuple[list[list[str]], list[list[str]], list[str]]:
    import httpx

    singles = [
        json.dumps({"query": {"vector": q.tolist()}, "k": K, "with_payload": False}).encode()
        for q in ds.queries
    ]
    with tempfile.TemporaryDirectory(prefix="nestvec-bench-milvus-") as tmp:
        with server(Path(tmp)) as (base, _pid), httpx.Client(base_url=base, timeout=600) as client:
            upsert_s = {name: fill(client, name, ds, index) for name, index in BACKENDS.items()}
        # Measured after a restart, as a built collection is served: the clean shutdown saves
        # the hnsw snapshot and flushes Milvus, which seals its segments and builds their HNSW
        # graphs (unflushed rows are searched exactly, which would flatter recall and slow QPS).
        with server(Path(tmp)) as (base, _pid):
            recall_rows, single, batch = measure(base, ds, singles, rounds)
    nq, n = len(ds.queries), len(ds.base)
    speed_rows = [
        [
            f"single-query QPS ({CLIENTS} clients)",
            f"{nq / single['hnsw']:.0f}",
            f"{nq / single['milvus']:.0f}",
            f"{single['hnsw'] / single['milvus']:.2f}",
        ],
        [
            f"batch QPS ({SEARCH_BATCH}/request, 1 client)",
            f"{nq / batch['hnsw']:.0f}",
            f"{nq / batch['milvus']:.0f}",
            f"{batch['hnsw'] / batch['milvus']:.2f}",
        ],
        [
            f"upsert points/s ({UPSERT_BATCH}/request)",
            f"{n / upsert_s['hnsw']:.0f}",
            f"{n / upsert_s['milvus']:.0f}",
            f"{upsert_s['hnsw'] / upsert_s['milvus']:.2f}",
        ],
    ]
    return recall_rows, speed_rows, ds.notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "scifact"])
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (best kept)")
    parser.add_argument("--queries", type=int, default=1000, help="MNIST queries (max 1000)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--milvus-uri", help="a Milvus server's URI, or `embedded` (default: Milvus Lite)"
    )
    args = parser.parse_args(argv)
    if args.milvus_uri:  # the served process reads NESTVEC_MILVUS_URI (bench_search.server)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from embedded_milvus import shared_uri

        os.environ["NESTVEC_MILVUS_URI"] = shared_uri(args.milvus_uri)
        print(f"Milvus: {os.environ['NESTVEC_MILVUS_URI']}")
    loaders = {
        "mnist": lambda: load_mnist(None, args.queries),
        "scifact": lambda: load_scifact_docs(args.cache_dir),
    }
    for name in args.datasets:
        ds = loaders[name]()
        recall_rows, speed_rows, notes = bench(ds, args.rounds)
        print(
            f"\n## {ds.name}: {len(ds.base)} x {ds.base.shape[1]}, {ds.metric}, "
            f"{len(ds.queries)} queries; M=16, ef_construction=200, over REST"
        )
        for note in notes:
            print(f"- {note}")
        print()
        print(
            table(
                ["ef", "hnsw recall@10", "milvus recall@10", "milvus - hnsw", "within ±0.01"],
                recall_rows,
            )
        )
        print()
        print(table(["throughput (ef=64)", "hnsw", "milvus", "milvus ÷ hnsw"], speed_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

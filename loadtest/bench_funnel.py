"""Matryoshka funnel search vs full-dim search on 50,000 real vectors: recall@10 and QPS ratios.

Vectors: 50,000 SciFact sentences and 1,000 held-out query sentences (the set and cache of
bench_search.py: abstracts split into sentences, every 50th abstract held out for queries),
encoded with `minilm` and mapped by the committed Matryoshka adapter, i.e. exactly what the
`minilm-mrl-adapter` encoder serves (`--vectors pca` uses the PCA rotation instead, `--vectors
raw` plain minilm). All searches go through `Collection.search` (the service's in-process path).

Baselines, measured in the same run, interleaved, best of --repeats:
  exact  a `flat` collection (faiss IndexFlatIP over the full 384 dims): the honest baseline
  hnsw   a `hnsw` collection at its default ef (approximate; --hnsw)
For each funnel (tier dims × shortlist) the table gives recall@10 against exact full-dim kNN
and single-query QPS (one query per call) ÷ exact QPS; then the fastest funnel whose recall@10
is within 0.5 points of exact search.

    .venv/bin/python loadtest/bench_funnel.py [--hnsw] [--queries 300] [--vectors adapter]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "loadtest"))
from bench_search import DEFAULT_CACHE, load_scifact  # noqa: E402

from encoders.mrl.adapter import LinearAdapter, pca_rotation  # noqa: E402
from encoders.mrl.adapter_encoder import PACKAGED  # noqa: E402
from index.collection import Collection, CollectionConfig  # noqa: E402

K, N = 10, 50_000
FUNNELS: list[dict[str, Any]] = (
    [{"dims": [32], "shortlist": s} for s in (200, 400, 800)]
    + [{"dims": [64], "shortlist": s} for s in (100, 200, 400, 800)]
    + [{"dims": [128], "shortlist": s} for s in (100, 200)]
    + [{"dims": [32, 128], "shortlist": [800, 200]}, {"dims": [64, 128], "shortlist": [400, 100]}]
)
MAX_LOSS = 0.005  # recall@10 loss allowed against exact search (0.5 points)


def vectors(kind: str, n_queries: int) -> tuple[np.ndarray, np.ndarray, str]:
    data = load_scifact(N, 1000, DEFAULT_CACHE)
    base, queries = data.base, data.queries[:n_queries]
    if kind == "raw":
        return base, queries, "minilm (not Matryoshka)"
    if kind == "pca":
        r = pca_rotation(base)
        return base @ r.T, queries @ r.T, "minilm + PCA rotation"
    adapter = LinearAdapter.load(PACKAGED / "minilm.npz")
    return adapter.apply(base), adapter.apply(queries), "minilm-mrl-adapter (committed adapter)"


def build(path: Path, index_type: str, base: np.ndarray) -> Collection:
    config = CollectionConfig(name=index_type, dim=base.shape[1], index_type=index_type)
    collection = Collection.create(path / index_type, config)
    ids = [str(i) for i in range(len(base))]
    for start in range(0, len(base), 5000):
        stop = start + 5000
        collection.upsert(ids[start:stop], base[start:stop], [{}] * (stop - start))
    return collection


def single_queries(search: Callable[[np.ndarray], list[Any]], queries: np.ndarray) -> tuple:
    """(top-k ids per query, seconds) with one query per call, as REST searches arrive."""
    found, start = [], time.perf_counter()
    for q in queries:
        found.append([int(h.id) for h in search(q[None, :])[0]])
    return np.array(found), time.perf_counter() - start


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vectors", choices=["adapter", "pca", "raw"], default="adapter")
    parser.add_argument("--hnsw", action="store_true", help="also compare with an hnsw collection")
    args = parser.parse_args()
    base, queries, label = vectors(args.vectors, args.queries)
    normed_b = base / np.linalg.norm(base, axis=1, keepdims=True)
    normed_q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(normed_q @ normed_b.T), axis=1, kind="stable")[:, :K]
    with tempfile.TemporaryDirectory() as tmp:
        flat = build(Path(tmp), "flat", base)
        runs: dict[str, Callable[[np.ndarray], list[Any]]] = {
            "exact (flat)": lambda q: flat.search(q, K, with_payload=False)
        }
        if args.hnsw:
            hnsw = build(Path(tmp), "hnsw", base)
            runs["hnsw (default ef)"] = lambda q: hnsw.search(q, K, with_payload=False)
        for f in FUNNELS:
            runs[f"funnel {f['dims']} / {f['shortlist']}"] = lambda q, f=f: flat.search(
                q, K, with_payload=False, funnel=f
            )
        flat.search(queries[:1], K, funnel=FUNNELS[0])  # load the in-memory tiers once
        best = {name: float("inf") for name in runs}
        recalls: dict[str, float] = {}
        for _ in range(args.repeats):  # interleaved, so load changes hit every row alike
            for name, search in runs.items():
                found, seconds = single_queries(search, queries)
                best[name] = min(best[name], seconds)
                recalls[name] = recall(found, truth)
        report(label, len(base), len(queries), best, recalls)


def report(label: str, n: int, nq: int, best: dict, recalls: dict) -> None:
    exact = best["exact (flat)"]
    print(f"\nfunnel search on {n:,} SciFact sentences, {nq} held-out queries; vectors: {label}")
    print(f"{'search':<30} {'recall@10':>10} {'QPS':>9} {'÷ exact':>8}")
    for name, seconds in best.items():
        print(f"{name:<30} {recalls[name]:>10.4f} {nq / seconds:>9.1f} {exact / seconds:>7.2f}x")
    floor = recalls["exact (flat)"] - MAX_LOSS
    ok = [m for m in best if m.startswith("funnel") and recalls[m] >= floor]
    if not ok:
        print(f"\nno funnel reaches recall@10 >= {floor:.3f}")
        return
    pick = min(ok, key=lambda m: best[m])
    print(
        f"\nfastest funnel within 0.5 recall points of exact: {pick}: recall@10 "
        f"{recalls[pick]:.4f}, {exact / best[pick]:.2f}x exact flat QPS"
        + (
            f", {best['hnsw (default ef)'] / best[pick]:.2f}x hnsw QPS"
            if "hnsw (default ef)" in best
            else ""
        )
    )


if __name__ == "__main__":
    main()

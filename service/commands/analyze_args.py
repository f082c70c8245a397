"""The options of `nestvec analyze`: each analysis's input, output and knobs."""

from __future__ import annotations

import argparse

from diagnostics import reports as analysis
from diagnostics.requests import DEFAULT_ORDERS, DEFAULT_SAMPLE
from nestvec.cli_types import path_arg

# request fields whose flag is not their name: `queries` (a count) is --n-queries, while
# --queries names the query file (`query_vectors`); it said `--queries: ...` of a count
FLAGS = {"name": "collection", "queries": "n-queries", "query_vectors": "queries"}


def flag_of(field: str) -> str:
    """A request field as its flag (`lid_k`: `--lid-k`, FLAGS' own); a path as is."""
    if field in FLAGS:
        return f"--{FLAGS[field]}"
    return f"--{field.replace('_', '-')}" if field.isidentifier() else field


def add_source(parser: argparse.ArgumentParser, takes_vectors: bool) -> None:
    parser.add_argument(
        "--data-dir", type=path_arg, help="data directory of --collection (env NESTVEC_DATA_DIR)"
    )
    one = parser.add_mutually_exclusive_group(required=True) if takes_vectors else parser
    one.add_argument(
        "--collection", required=not takes_vectors, help="collection to analyse (no server)"
    )
    if takes_vectors:
        one.add_argument("--vectors", metavar="FILE.npy", help="a 2-D array of vectors instead")
        parser.add_argument(
            "--metric", choices=("l2", "cosine", "ip"), default="l2", help="metric of --vectors"
        )
    parser.add_argument(
        "--out", default="analysis-out", help="output directory (JSON, PNG; ./analysis-out)"
    )


def add_sample(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample", type=int, help=f"vectors drawn at most ({DEFAULT_SAMPLE})")
    parser.add_argument("--seed", type=int, help="seed of the sample (0)")


def add_queries(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--queries", dest="query_file", metavar="FILE.npy", help="query vectors")
    parser.add_argument(
        "--n-queries", dest="queries", type=int, help=f"stored vectors held out ({default})"
    )
    parser.add_argument("--k", type=int, help="neighbours compared (10)")


def add_id_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, help="neighbours of MLE and TwoNN (20)")
    parser.add_argument("--lid-k", dest="lid_k", type=int, help="neighbours of pointwise LID (100)")
    add_sample(parser)


def add_order_args(parser: argparse.ArgumentParser) -> None:
    add_queries(parser, analysis.DEFAULTS["order_queries"])
    parser.add_argument("--orders", nargs="+", help=f"({' '.join(DEFAULT_ORDERS)})")
    parser.add_argument("--category-field", help="payload key of the 'category' order")
    parser.add_argument("--n-clusters", type=int, help="clusters of the cluster orders")
    parser.add_argument("--seeds", nargs="+", type=int, help="graph seeds (0 1 2)")
    parser.add_argument("--ef-search", nargs="+", type=int, help="search beam widths (10 40)")
    parser.add_argument("--libraries", nargs="+", help="(hnswlib faiss-hnsw)")
    parser.add_argument("--M", dest="M", type=int, help="graph degree (16)")
    parser.add_argument("--ef-construction", type=int, help="build beam width (128)")
    add_sample(parser)


def add_recall_args(parser: argparse.ArgumentParser) -> None:
    add_queries(parser, analysis.DEFAULTS["recall_queries"])
    parser.add_argument(
        "--params",
        metavar="K=V,...",
        help="search knobs: K=V pairs or a JSON object, e.g. ef=64 (hnsw) or nprobe=8 (ivf)",
    )
    parser.add_argument("--target-recall", type=float, help="autotune ef/nprobe to reach this")
    parser.add_argument("--seed", type=int, help="seed of the sampled queries (0)")

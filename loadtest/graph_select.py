"""Choose `nestvec train graph`'s defaults on a validation split (never on the test edges).

The command's own split holds out 10% of Cora's edges for the benchmark; this script splits the
remaining training edges again (10% validation, seed 1), trains each candidate on the rest and
scores the validation edges (ROC-AUC, Hits@20) and kNN accuracy on Planetoid's 500 validation
nodes, each averaged over --seeds training seeds (one seed's kNN moves by +-0.02 with the seed,
more than most candidates differ; the kNN column shows the spread). The winner (best mean of the
three) becomes the default in encoders/graph/train_cli.py.

    .venv/bin/python loadtest/graph_select.py --hops 1 5 --alpha 0 0.35 --hidden 64 128
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoders.graph.data import load_planetoid, split_edges  # noqa: E402
from encoders.graph.evaluate import hits_at_k, knn_accuracy, roc_auc  # noqa: E402
from encoders.graph.features import unit_rows  # noqa: E402
from encoders.graph.train_cli import DEFAULTS  # noqa: E402
from encoders.graph.training import TrainConfig, embed_all, train  # noqa: E402


def validation_split(graph_edges: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(fit edges, validation edges, validation negatives) inside the command's training split."""
    outer = split_edges(graph_edges, 0.1, seed)  # the same split `nestvec train graph` saves
    inner = split_edges(outer.train, 0.1, seed + 1)
    n = int(graph_edges.max()) + 1
    negatives = np.random.default_rng(seed + 2).integers(0, n, inner.held_out.shape)
    return inner.train, inner.held_out, negatives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", type=Path, default=Path("../shared/data/cora_planetoid"))
    parser.add_argument("--hops", type=int, nargs="+", default=[DEFAULTS["hops"]])
    parser.add_argument(
        "--alpha",
        type=float,
        nargs="+",
        default=[DEFAULTS["alpha"] if DEFAULTS["propagation"] == "ppr" else 0.0],
        help="PageRank teleport weights of the propagated input; 0 = SGC's last hop",
    )
    parser.add_argument("--hidden", type=int, nargs="+", default=[DEFAULTS["hidden"]])
    parser.add_argument("--hard", type=int, nargs="+", default=[DEFAULTS["hard_negatives"]])
    parser.add_argument("--epochs", type=int, nargs="+", default=[DEFAULTS["epochs"]])
    parser.add_argument("--skip", type=int, nargs="+", default=[int(DEFAULTS["skip"])])
    parser.add_argument("--dropout", type=float, nargs="+", default=[TrainConfig.dropout])
    parser.add_argument("--margin", type=float, nargs="+", default=[TrainConfig.margin])
    parser.add_argument("--dim", type=int, nargs="+", default=[TrainConfig.dim])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="append one JSON line per candidate here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    graph = load_planetoid(args.graph)
    fit, val, negs = validation_split(graph.edges)
    val_nodes = np.flatnonzero(np.asarray(graph.splits) == "val")
    x = unit_rows(graph.features)
    print(f"fit edges {len(fit)}, validation edges {len(val)}, validation nodes {len(val_nodes)}")
    print(
        f"{'hops':>4} {'alpha':>5} {'hidden':>6} {'hard':>4} {'epochs':>6} {'skip':>4} {'drop':>4} "
        f"{'margin':>6} {'dim':>4} {'AUC':>6} "
        f"{'Hits@20':>7} {'kNN':>6} {'kNN min-max':>11} {'mean':>6} {'sec':>5}"
    )
    grid = itertools.product(
        args.hops,
        args.alpha,
        args.hidden,
        args.hard,
        args.epochs,
        args.skip,
        args.dropout,
        args.margin,
        args.dim,
    )
    for hops, alpha, hidden, hard, epochs, skip, dropout, margin, dim in grid:
        cfg = dataclasses.replace(
            TrainConfig(),
            hops=hops,
            alpha=alpha or None,
            hidden=hidden,
            hard_negatives=hard,
            epochs=epochs,
            skip=bool(skip),
            dropout=dropout,
            margin=margin,
            dim=dim,
        )
        runs = []
        for seed in args.seeds:
            result = train(x, fit, dataclasses.replace(cfg, seed=seed))
            z = embed_all(result.model, result.table)
            runs.append(
                (
                    roc_auc(z, val, negs),
                    hits_at_k(z, val, fit, 20),
                    knn_accuracy(z, graph.labels, val_nodes, 10),
                    result.seconds,
                )
            )
        auc, hits, knn, seconds = np.mean(runs, axis=0)
        knns = [r[2] for r in runs]
        row = {
            "hops": hops,
            "alpha": alpha,
            "hidden": hidden,
            "hard": hard,
            "epochs": epochs,
            "skip": skip,
            "dropout": dropout,
            "margin": margin,
            "dim": dim,
            "seeds": list(args.seeds),
            "auc": float(auc),
            "hits@20": float(hits),
            "knn": float(knn),
            "knn_min": min(knns),
            "knn_max": max(knns),
            "seconds": round(float(seconds), 1),
        }
        row["mean"] = (row["auc"] + row["hits@20"] + row["knn"]) / 3
        print(
            f"{hops:4d} {alpha:5.2f} {hidden:6d} {hard:4d} {epochs:6d} {skip:4d} {dropout:4.2f} "
            f"{margin:6.2f} {dim:4d} {row['auc']:6.3f} "
            f"{row['hits@20']:7.3f} {row['knn']:6.3f} {row['knn_min']:5.3f}-{row['knn_max']:5.3f} "
            f"{row['mean']:6.3f} {row['seconds']:5.0f}",
            flush=True,
        )
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

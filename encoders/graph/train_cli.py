"""`nestvec train graph`: train the PinSage-style encoder on a citation graph (Cora Planetoid).

10% of the edges (both directions) are held out for link prediction and saved with the model,
so the benchmark scores exactly the edges training never saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from encoders.artifacts import SHARED_DATA, add_output_arguments
from nestvec.cli_types import count_arg, fraction_arg, positive_float, positive_int

DEFAULT_GRAPH = SHARED_DATA / "cora_planetoid"  # relative to the checkout, not the shell
# chosen on a validation split of the training edges (loadtest/graph_select.py)
DEFAULTS = {
    "propagation": "ppr",
    "hops": 5,
    "alpha": 0.35,
    "hidden": 64,
    "hard_negatives": 12,
    "epochs": 10,
    "skip": True,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser)
    parser.add_argument(
        "--graph", type=Path, default=DEFAULT_GRAPH, help="Planetoid folder (nodes/edges/features)"
    )
    parser.add_argument("--features", choices=("bow", "text"), default="bow", help="node features")
    parser.add_argument(
        "--text-field", help="node-table column holding node text (--features text)"
    )
    parser.add_argument(
        "--propagation",
        choices=("ppr", "sgc"),
        default=DEFAULTS["propagation"],
        help="input features over the training graph: personalised PageRank (hop k weighted "
        "alpha (1 - alpha)^k) or SGC (the last hop alone)",
    )
    parser.add_argument(
        "--hops",
        type=count_arg,
        default=DEFAULTS["hops"],
        help="propagation steps over the training graph (0 = raw features)",
    )
    parser.add_argument(
        "--alpha",
        type=positive_float,
        default=DEFAULTS["alpha"],
        help="PageRank teleport weight (ppr)",
    )
    parser.add_argument(
        "--no-skip", action="store_true", help="no linear path from the input to the output"
    )
    parser.add_argument(
        "--hidden", type=positive_int, default=DEFAULTS["hidden"], help="hidden width"
    )
    parser.add_argument("--tiny", action="store_true", help="a few steps: a smoke run in seconds")
    parser.add_argument(
        "--epochs",
        type=positive_int,
        help=f"passes over the training edges (default {DEFAULTS['epochs']})",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=2048, help="positive pairs per step"
    )
    parser.add_argument("--lr", type=positive_float, default=3e-3)
    parser.add_argument("--dropout", type=fraction_arg, default=0.5)
    parser.add_argument("--margin", type=positive_float, default=0.1, help="max-margin loss margin")
    parser.add_argument(
        "--hard-negatives",
        type=count_arg,
        default=DEFAULTS["hard_negatives"],
        help="PPR-hard negatives per query",
    )
    parser.add_argument("--no-curriculum", action="store_true", help="all hard negatives at once")
    parser.add_argument("--top-t", type=positive_int, default=16, help="neighbourhood size T")
    parser.add_argument("--walks", type=positive_int, default=200, help="random walks per node")
    parser.add_argument("--walk-length", type=positive_int, default=3, help="steps per walk")
    parser.add_argument(
        "--held-out", type=fraction_arg, default=0.1, help="fraction of edges held out"
    )
    parser.add_argument(
        "--seed", type=count_arg, default=0, help="seed of the split, walks, training"
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="torch threads")


def config_from_args(args: argparse.Namespace):  # -> TrainConfig
    """The training configuration the options describe (`--tiny` shrinks everything)."""
    from encoders.graph.sampler import WalkConfig
    from encoders.graph.training import TrainConfig

    walk = WalkConfig(args.walks, args.walk_length, args.top_t, args.seed)
    if args.tiny:
        walk = WalkConfig(20, 2, 8, args.seed)
    return TrainConfig(
        epochs=args.epochs or (2 if args.tiny else DEFAULTS["epochs"]),
        batch_size=512 if args.tiny else args.batch_size,
        lr=args.lr,
        margin=args.margin,
        hard_negatives=args.hard_negatives,
        hard_ranks=(5, 50) if args.tiny else (20, 200),
        curriculum=not args.no_curriculum,
        max_steps=6 if args.tiny else None,
        seed=args.seed,
        walk=walk,
        hidden=64 if args.tiny else args.hidden,
        dropout=args.dropout,
        hops=args.hops,
        alpha=args.alpha if args.propagation == "ppr" else None,
        skip=not args.no_skip,
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from encoders.artifacts import output_dir
    from encoders.graph import artifact
    from encoders.graph.data import load_planetoid, split_edges
    from encoders.graph.encoder import ARTIFACT
    from encoders.graph.features import node_features
    from encoders.graph.training import train

    torch.set_num_threads(max(1, args.threads))
    try:
        graph = load_planetoid(args.graph, args.text_field)
        features = node_features(graph, args.features)
    except (OSError, ValueError) as exc:
        print(f"nestvec train graph: error: {exc}", file=sys.stderr)
        return 2
    split = split_edges(graph.edges, args.held_out, args.seed)
    cfg = config_from_args(args)
    with tqdm(desc="train graph", unit="step") as bar:
        result = train(features, split.train, cfg, bar)
    folder = output_dir(args, ARTIFACT)
    meta = describe(args, graph, cfg, result, split)
    negatives = np.random.default_rng(args.seed + 1).integers(0, graph.n, split.held_out.shape)
    arrays = {"train": split.train, "held_out": split.held_out, "held_out_negatives": negatives}
    artifact.save(folder, meta, result.model, result.table, graph.ids, arrays)
    print(json.dumps({"artifact": str(folder), **meta["training"]}, indent=2))
    return 0


def propagation(hops: int, alpha: float | None) -> dict:
    """How the encoder turns raw features into model input (the artifact repeats it on load)."""
    return {
        "kind": "sgc" if alpha is None else "ppr",
        "hops": hops,
        "alpha": alpha,
        "operator": "D^-1/2 (A + I) D^-1/2 over the training edges",
        "sum": "the last hop" if alpha is None else "hop k weighted alpha (1 - alpha)^k",
        "rows": "L2-normalised after the sum",
    }


def describe(args, graph, cfg, result, split) -> dict:  # noqa: ANN001
    """The artifact's JSON: the graph, the features, the parameters, the split and the run."""
    from dataclasses import asdict

    return {
        "name": "graph-cora",
        "kind": "pinsage",
        "graph": {
            "path": str(Path(args.graph).resolve()),
            "nodes": graph.n,
            "edges": int(len(graph.edges)),
            "train_edges": int(len(split.train)),
            "held_out_edges": int(len(split.held_out)),
        },
        "features": {"kind": args.features, "dim": int(result.table.features.shape[1])},
        "propagation": propagation(cfg.hops, cfg.alpha),
        "split": {"seed": split.seed, "held_out_fraction": split.fraction, "file": "split.npz"},
        "model": result.model.config(),
        "walk": asdict(cfg.walk),
        "params": {k: v for k, v in asdict(cfg).items() if k != "walk"},
        "training": {
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "loss_first_epoch": result.losses[0] if result.losses else None,
            "loss_last_epoch": result.losses[-1] if result.losses else None,
            "tiny": bool(args.tiny),
        },
    }

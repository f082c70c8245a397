"""`nestvec train moe`: the domain-expert MoE from base MiniLM, plus the generalist baseline.

    nestvec train moe [--tiny] [--layers middle|all] [--steps N] [--no-generalist] [--data-dir D]

Writes DATA_DIR/models/moe-minilm/ (a SentenceTransformer folder, the AG News split and a
training report) and DATA_DIR/models/minilm-generalist/ (the same pairs, batches mixed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from encoders.artifacts import add_output_arguments, output_dir

ARTIFACT = "moe-minilm"
GENERALIST = "minilm-generalist"
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
# --tiny: a few steps on a few short pairs; seconds on 2 cores, for tests.
TINY = {"steps": 6, "batch_size": 8, "max_seq_length": 32, "pairs": 48, "router_texts": 24}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser)
    parser.add_argument("--tiny", action="store_true", help="seconds-long run for tests")
    parser.add_argument("--layers", choices=("middle", "all"), default="middle")
    parser.add_argument("--steps", type=int, default=48, help="contrastive steps per model")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-seq-length", type=int, default=48, help="while training")
    parser.add_argument("--router-texts", type=int, default=100, help="per domain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--generalist",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train the all-domains-mixed baseline",
    )
    parser.add_argument(
        "--only", choices=("moe", "generalist"), help="train one of the two (e.g. in parallel)"
    )
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="../shared/data")
    parser.add_argument("--threads", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    import torch

    from encoders.moe.train import TrainConfig

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(args.steps, args.batch_size, args.lr, args.max_seq_length, args.seed)
    if args.tiny:
        cfg = TrainConfig(TINY["steps"], TINY["batch_size"], args.lr, TINY["max_seq_length"])
    report = train(
        output_dir(args, ARTIFACT),
        cfg,
        layers=args.layers,
        data_root=args.data_root,
        router_texts=TINY["router_texts"] if args.tiny else args.router_texts,
        pairs_per_domain=TINY["pairs"] if args.tiny else None,
        generalist=args.generalist and args.only != "moe",
        moe=args.only != "generalist",
    )
    print(json.dumps(report, indent=2))
    return 0


def train(
    out: Path,
    cfg: Any,
    *,
    layers: str = "middle",
    data_root: Path = DEFAULT_DATA,
    router_texts: int = 100,
    pairs_per_domain: int | None = None,
    generalist: bool = True,
    moe: bool = True,
    base: Any | None = None,
) -> dict[str, Any]:
    """Train and save the MoE (and the generalist beside it); returns the training report."""
    import copy

    from encoders.moe import data
    from encoders.moe.model import build_moe, load_base
    from encoders.moe.train import train_contrastive, train_router

    started = time.monotonic()
    held = data.ag_split(data_root, seed=cfg.seed)
    pairs = data.training_pairs(data_root, held)
    if pairs_per_domain is not None:  # tiny: the shortest pairs, so steps take milliseconds
        pairs = {
            d: sorted(p, key=lambda x: len(x[0]) + len(x[1]))[:pairs_per_domain]
            for d, p in pairs.items()
        }
    domains = list(data.DOMAINS)
    out.mkdir(parents=True, exist_ok=True)
    base = copy.deepcopy(base) if base is not None else load_base()
    report: dict[str, Any] = {"domains": domains, "layers": layers, "config": vars(cfg)}
    report["pairs"] = {d: len(p) for d, p in pairs.items()}
    if moe:
        model = build_moe(domains, layers, base)
        report["losses"] = train_contrastive(model, pairs, cfg, domains=domains, desc="moe")
        samples = data.router_texts(data_root, held, train=True, per_domain=router_texts)
        report["router_train_accuracy"] = train_router(model, samples)
        model.save(str(out))
        data.save_split(held, out, cfg.seed)
    if generalist:
        report["generalist_losses"] = train_contrastive(base, pairs, cfg, desc="generalist")
        base.save(str(out.parent / GENERALIST))
    report["seconds"] = round(time.monotonic() - started, 1)
    name = "train_report.json" if moe else "generalist_report.json"
    (out / name).write_text(json.dumps(report, indent=2))
    return report

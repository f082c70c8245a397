"""`nestvec train moe`: the domain-expert MoE from base MiniLM (and, on request, the generalist).

    nestvec train moe [--tiny] [--layers middle|all] [--steps N] [--generalist] [--data-dir D]

Writes DATA_DIR/models/moe-minilm/ (a SentenceTransformer folder, the AG News split and a
training report with steps and seconds per domain, gate movement and the router's held-out
accuracy and confusion matrix). `--generalist` (or `--only generalist`) also writes
DATA_DIR/models/minilm-generalist/: the plain model fine-tuned on the same batches, no experts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from encoders.artifacts import SHARED_DATA, add_output_arguments, output_dir
from encoders.moe.config import TrainConfig
from nestvec.cli_types import count_arg, positive_float, positive_int

ARTIFACT = "moe-minilm"
GENERALIST = "minilm-generalist"
DEFAULT_DATA = SHARED_DATA
# --tiny: a few steps on a few short pairs; seconds on 2 cores, for tests.
TINY = {
    "steps": 6,
    "batch_size": 8,
    "max_seq_length": 32,
    "pairs": 48,
    "router_texts": 24,
    "validation_docs": 16,
}
HELD_OUT_ROUTER_TEXTS = 300  # per domain, never used to fit the router
VALIDATION = (100, 600)  # queries per domain held out of training, documents they rank


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    add_output_arguments(parser)
    parser.add_argument("--tiny", action="store_true", help="a run of under a minute, for tests")
    parser.add_argument("--layers", choices=("middle", "all"), default="middle")
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=d.steps,
        help="contrastive steps, equal per domain (%(default)s)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    parser.add_argument("--lr", type=positive_float, default=d.lr)
    parser.add_argument(
        "--gate-lr", type=positive_float, default=d.gate_lr, help="the experts' gates (%(default)s)"
    )
    parser.add_argument(
        "--max-seq-length",
        type=positive_int,
        default=d.max_seq_length,
        help="tokens while training (%(default)s)",
    )
    parser.add_argument(
        "--backbone",
        action=argparse.BooleanOptionalAction,
        default=d.backbone,
        help="MoE: train the shared BERT too (default: experts only)",
    )
    parser.add_argument(
        "--router-texts",
        type=positive_int,
        default=1500,
        help="per domain, to fit the router (%(default)s)",
    )
    parser.add_argument(
        "--validation-queries",
        type=count_arg,
        help="per domain, held out of training; a domain whose expert does not beat the base "
        f"on them keeps the base's (0: keep every expert as trained) ({VALIDATION[0]}; "
        "0 with --tiny)",
    )
    parser.add_argument("--seed", type=count_arg, default=d.seed)
    parser.add_argument(
        "--generalist",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also train the no-experts baseline on the same batches (default: no)",
    )
    parser.add_argument("--only", choices=("moe", "generalist"), help="train one of the two")
    parser.add_argument(
        "--data-root", type=Path, default=DEFAULT_DATA, help="data folder (../shared/data)"
    )
    parser.add_argument("--threads", type=positive_int, default=2)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        gate_lr=args.gate_lr,
        backbone=args.backbone,
    )
    if args.tiny:
        tiny = {k: TINY[k] for k in ("steps", "batch_size", "max_seq_length")}
        cfg = TrainConfig(**{**vars(cfg), **tiny})
    report = train(
        output_dir(args, ARTIFACT),
        cfg,
        layers=args.layers,
        data_root=args.data_root,
        router_texts=TINY["router_texts"] if args.tiny else args.router_texts,
        pairs_per_domain=TINY["pairs"] if args.tiny else None,
        validation=validation_split(args),
        generalist=(args.generalist and args.only != "moe") or args.only == "generalist",
        moe=args.only != "generalist",
    )
    print(json.dumps({k: v for k, v in report.items() if "losses" not in k}, indent=2))
    return 0


def validation_split(args: argparse.Namespace) -> tuple[int, int]:
    """(queries, documents) per domain for the expert gate: none by default with --tiny, whose
    few steps leave every expert level with the base (the tests need trained experts)."""
    queries = args.validation_queries
    if args.tiny:
        return (queries or 0, TINY["validation_docs"])
    return (VALIDATION[0] if queries is None else queries, VALIDATION[1])


def train(
    out: Path,
    cfg: Any,
    *,
    layers: str = "middle",
    data_root: Path = DEFAULT_DATA,
    router_texts: int = 1500,
    pairs_per_domain: int | None = None,
    validation: tuple[int, int] = VALIDATION,
    generalist: bool = False,
    moe: bool = True,
    base: Any | None = None,
) -> dict[str, Any]:
    """Train and save the MoE (and the generalist beside it); returns the training report."""
    import copy

    from encoders.moe import data
    from encoders.moe.model import build_moe, load_base
    from encoders.moe.train import gate_movement, train_contrastive
    from encoders.moe.validation import expert_weights, keep_better_experts, validation_ndcg

    started = time.monotonic()
    held = data.ag_split(data_root, seed=cfg.seed)
    pairs, checks = data.training_split(data_root, held, *validation, seed=cfg.seed)
    if pairs_per_domain is not None:  # tiny: the shortest pairs, so steps take milliseconds
        pairs = {
            d: sorted(p, key=lambda x: len(x[0]) + len(x[1]))[:pairs_per_domain]
            for d, p in pairs.items()
        }
    domains = list(data.DOMAINS)
    base = copy.deepcopy(base) if base is not None else load_base()
    report: dict[str, Any] = {"domains": domains, "layers": layers, "config": vars(cfg)}
    report["pairs"] = {d: len(p) for d, p in pairs.items()}
    if moe:
        model = build_moe(domains, layers, base)
        # the base's score on held-out queries first: a domain's expert must beat it to stay
        gated = validation[0] > 0 and not cfg.backbone
        start = expert_weights(model)
        before = validation_ndcg(model, checks, cfg.max_seq_length) if gated else {}
        report.update(train_contrastive(model, pairs, cfg, domains=domains, desc="moe"))
        if gated:
            after = validation_ndcg(model, checks, cfg.max_seq_length)
            report["validation"] = keep_better_experts(model, start, before, after)
        report["gate_movement"] = gate_movement(model)
        report["contrastive_seconds"] = round(time.monotonic() - started, 1)
        report.update(fit_router(model, data_root, held, router_texts, cfg.seed))
        out.mkdir(parents=True, exist_ok=True)  # only now: an interrupted run left it empty
        model.save(str(out))
        data.save_split(held, out, cfg.seed)
    if generalist:
        run = train_contrastive(base, pairs, cfg, desc="generalist")
        report.update({f"generalist_{k}": v for k, v in run.items()})
        base.save(str(out.parent / GENERALIST))
    report["seconds"] = round(time.monotonic() - started, 1)
    # the generalist's report beside the generalist: in moe-minilm/ it changed the MoE's files
    where = out / "train_report.json" if moe else out.parent / GENERALIST / "train_report.json"
    where.write_text(json.dumps(report, indent=2))
    return report


def fit_router(
    model: Any, data_root: Path, held: dict[str, list[int]], per_domain: int, seed: int
) -> dict[str, Any]:
    """Fit the router on training-side texts; score it on held-out texts never used to fit it
    (SciFact test claims, NFCorpus dev questions, AG held-out titles and descriptions)."""
    import torch

    from encoders.moe import data
    from encoders.moe.train import confusion, router_features, train_router

    samples = data.router_texts(data_root, held, train=True, per_domain=per_domain, seed=seed)
    train_accuracy = train_router(model, samples)
    per_held = min(HELD_OUT_ROUTER_TEXTS, per_domain)
    test = data.router_texts(data_root, held, train=False, per_domain=per_held, seed=seed + 1)
    module = model[0]
    with torch.no_grad():
        ids = module.router.linear(router_features(model, [t for t, _ in test])).argmax(-1)
    chosen = [module.domains[i] for i in ids.tolist()]
    truth = [d for _, d in test]
    return {
        "router_train_accuracy": round(train_accuracy, 4),
        "router_held_out_accuracy": round(
            sum(a == b for a, b in zip(truth, chosen, strict=True)) / len(test), 4
        ),
        "router_held_out_texts": len(test),
        "router_confusion": {
            "rows_true_columns_chosen": module.domains,
            "matrix": confusion(truth, chosen, module.domains),
        },
    }

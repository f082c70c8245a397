"""`nestvec train mrl --mode finetune|adapter|pca`: Matryoshka text models on SciFact pairs.

finetune  MatryoshkaLoss(MultipleNegativesRankingLoss) over the whole all-MiniLM-L6-v2
          -> DATA_DIR/models/minilm-mrl (a sentence-transformers folder, served as `minilm-mrl`)
adapter   a d×d linear map on frozen embeddings of `--base`, same objective
          -> DATA_DIR/models/mrl-adapter-<base> (served as `<base>-mrl-adapter`)
pca       the PCA rotation of the frozen embeddings (the baseline), same file format
          -> DATA_DIR/models/mrl-pca-<base>

finetune pairs: every text domain of ../shared/data, balanced (`--per-domain` each): SciFact
title↔abstract, sentence↔rest, train-qrels claim↔abstract; NFCorpus train-qrels question↔abstract;
AG News headline↔description. Never a test or dev qrels file. `--hold-out nfcorpus` leaves a
domain out (the unseen-domain report of loadtest/bench_mrl.py); `--budget` caps the minutes.
adapter/pca pairs: SciFact only. `--tiny` trains on a few dozen pairs in seconds (for tests).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from encoders.artifacts import SHARED_DATA, add_output_arguments, output_dir
from encoders.mrl.adapter import nested_dims_for
from encoders.mrl.pairs import DOMAINS
from nestvec.cli_types import count_arg, positive_float, positive_int

DEFAULT_DATA = SHARED_DATA
DEFAULT_SCIFACT = DEFAULT_DATA / "scifact"
DIMS = (384, 256, 128, 64, 32)
TINY = {"max_pairs": 32, "batch_size": 8, "epochs": 2, "max_seq_length": 32}
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=sorted(MODES), required=True)
    parser.add_argument("--tiny", action="store_true", help="a few dozen pairs: seconds, for tests")
    parser.add_argument("--base", default="minilm", help="adapter/pca: the frozen encoder")
    parser.add_argument("--scifact", type=Path, default=DEFAULT_SCIFACT, help="SciFact folder")
    parser.add_argument(
        "--shared-data", type=Path, default=DEFAULT_DATA, help="finetune: folder of the domains"
    )
    parser.add_argument(
        "--hold-out",
        choices=["none", *DOMAINS],
        default="none",
        help="finetune: leave this domain out of training (to measure it as unseen)",
    )
    parser.add_argument(
        "--per-domain", type=positive_int, default=None, help="finetune: pairs per domain"
    )
    parser.add_argument(
        "--budget", type=positive_float, default=None, help="finetune: stop training after MINUTES"
    )
    parser.add_argument(
        "--weights",
        type=positive_float,
        nargs="+",
        default=None,
        help="finetune: loss weight per dim",
    )
    parser.add_argument(
        "--dims", type=positive_int, nargs="+", default=None, help="Matryoshka dims"
    )
    parser.add_argument("--max-pairs", type=positive_int, default=None)
    parser.add_argument("--batch-size", type=positive_int, default=None)
    parser.add_argument("--epochs", type=positive_int, default=None)
    parser.add_argument("--lr", type=positive_float, default=None)
    parser.add_argument(
        "--max-seq-length", type=positive_int, default=None, help="finetune: token cut"
    )
    parser.add_argument(
        "--freeze-layers", type=count_arg, default=3, help="finetune: frozen layers"
    )
    parser.add_argument(
        "--pairs",
        choices=["docs", "sentences"],
        default="docs",
        help="adapter/pca: title/train-claim ↔ document, or sentence ↔ next sentence (no qrels)",
    )
    parser.add_argument(
        "--init-adapter",
        default="auto",
        help="finetune: adapter.npz to start from as a Dense layer; auto (the served one, the "
        "default); pca (the training texts' principal axes); none",
    )
    parser.add_argument("--no-orthogonal", action="store_true", help="adapter: free d×d map")
    parser.add_argument("--seed", type=count_arg, default=0)
    # adapter/pca: small matrices; 1 thread avoids OpenMP stalls on a busy machine (10x here)
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="torch threads (2; adapter 1)"
    )
    add_output_arguments(parser)


def _knobs(
    args: argparse.Namespace, defaults: dict[str, Any], tiny: dict[str, Any]
) -> dict[str, Any]:
    """Explicit flags over the --tiny preset over the mode's defaults."""
    knobs = {**defaults, **({**TINY, **tiny} if args.tiny else {})}
    for key in defaults:
        if getattr(args, key, None) is not None:
            knobs[key] = getattr(args, key)
    return knobs


def _check_scifact(args: argparse.Namespace) -> None:
    if not (args.scifact / "corpus.jsonl").exists():
        raise FileNotFoundError(f"SciFact not found under {args.scifact} (use --scifact)")


def _pairs(args: argparse.Namespace, per_domain: int | None, max_pairs: int | None) -> list[Any]:
    """Balanced pairs of every domain under `--shared-data` but the held-out one."""
    from encoders.mrl.pairs import DOMAIN_FOLDERS, domain_pairs

    domains = tuple(d for d in DOMAINS if d != args.hold_out)
    missing = [d for d in domains if not (args.shared_data / DOMAIN_FOLDERS[d]).exists()]
    if missing:
        raise FileNotFoundError(
            f"domains {missing} not found under {args.shared_data} (--shared-data)"
        )
    if max_pairs is not None:  # a capped run (--tiny) still draws from every domain
        per_domain = min(per_domain or max_pairs, -(-max_pairs // len(domains)))
    pairs = domain_pairs(args.shared_data, domains, per_domain, args.seed)
    return pairs[:max_pairs] if max_pairs is not None else pairs


def run_finetune(args: argparse.Namespace) -> dict[str, Any]:
    from encoders.mrl.finetune import FinetuneConfig, finetune

    # 2,000 pairs from each domain at 256 tokens (abstracts are long), 3 lowest layers frozen,
    # stopped at 10 minutes on 2 idle cores if not done; lr decays with time under the budget.
    defaults = {
        "max_pairs": None,
        "per_domain": 2000,
        "batch_size": 32,
        "epochs": 1,
        "lr": 3e-5,
        "max_seq_length": 256,
        "budget": 10.0,
    }
    knobs = _knobs(args, defaults, {"lr": 1e-4, "budget": None})
    config = FinetuneConfig(
        dims=nested_dims_for(max(DIMS), tuple(args.dims) if args.dims else DIMS),
        batch_size=knobs["batch_size"],
        epochs=knobs["epochs"],
        lr=knobs["lr"],
        max_seq_length=knobs["max_seq_length"],
        probe_batches=1 if args.tiny else 4,
        seed=args.seed,
        threads=args.threads or 2,
        freeze_layers=args.freeze_layers,
        init_adapter=_init_adapter(args),
        budget_s=None if knobs["budget"] is None else 60.0 * knobs["budget"],
        weights=tuple(args.weights) if args.weights else None,
    )
    out = output_dir(args, "minilm-mrl")
    pairs = _pairs(args, knobs["per_domain"], knobs["max_pairs"])
    report = finetune(pairs, out, config)
    return {"out": str(out), "hold_out": args.hold_out, **report}


def _init_adapter(args: argparse.Namespace) -> str | None:
    """`--init-adapter auto`: the adapter the service would serve for minilm (data dir first)."""
    if args.init_adapter in ("none", "pca"):
        return None if args.init_adapter == "none" else args.init_adapter
    if args.init_adapter != "auto":  # checked now: it was read after the data, naming its .json
        if not Path(args.init_adapter).is_file():
            raise FileNotFoundError(f"--init-adapter {args.init_adapter}: no such file")
        return str(args.init_adapter)
    from encoders.registry import encoder_class

    models = output_dir(args, "minilm-mrl").parent
    path = encoder_class("minilm-mrl-adapter").adapter_path(models)
    return None if path is None else str(path)


def run_linear(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    from encoders.mrl.fit_adapter import AdapterConfig, train_linear
    from encoders.mrl.pairs import doc_pairs, neighbour_pairs

    defaults = {"max_pairs": None, "batch_size": 256, "epochs": 20, "lr": 1e-3}
    knobs = _knobs(args, defaults, {"epochs": 10})
    from encoders.errors import InvalidInput
    from encoders.registry import encoder_class

    base = encoder_class(args.base)  # an unknown name: one line naming the known ones
    if base.modality != "text":  # graph-cora ended in a TypeError, face-dlib in "expected image"
        raise InvalidInput(f"--base {args.base!r} is a {base.modality} encoder; give a text one")
    if args.dims:  # checked before the base embeds anything
        nested_dims_for(base.dim, tuple(args.dims))
    config = AdapterConfig(
        dims=tuple(args.dims) if args.dims else None,
        batch_size=knobs["batch_size"],
        epochs=knobs["epochs"],
        lr=knobs["lr"],
        orthogonal=not args.no_orthogonal,
        seed=args.seed,
        threads=args.threads or 1,
    )
    out = output_dir(args, f"mrl-{kind}-{args.base}")
    _check_scifact(args)
    if args.pairs == "docs":
        pairs = doc_pairs(args.scifact, limit=knobs["max_pairs"], seed=args.seed)
    else:
        pairs = neighbour_pairs(args.scifact, limit=knobs["max_pairs"])
    # a trained base (minilm-mrl, moe-minilm) loads from the models dir this run writes to
    models = out.parent if args.out is None else None
    return {"out": str(out), **train_linear(kind, args.base, pairs, out, config, models)}


MODES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "finetune": run_finetune,
    "adapter": lambda args: run_linear(args, "adapter"),
    "pca": lambda args: run_linear(args, "pca"),
}


def run(args: argparse.Namespace) -> int:
    report = MODES[args.mode](args)
    print(json.dumps(report, indent=2))
    return 0

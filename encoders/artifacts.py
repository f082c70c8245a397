"""Where trained encoder artifacts live: DATA_DIR/models/<artifact> unless told otherwise.

The service (NESTVEC_DATA_DIR / NESTVEC_MODELS_DIR) and the `nestvec train` commands resolve the
same folder, so a model trained with `--data-dir D` is served by `nestvec serve --data-dir D`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def default_models_dir() -> Path:
    if models := os.environ.get("NESTVEC_MODELS_DIR"):
        return Path(models)
    return Path(os.environ.get("NESTVEC_DATA_DIR", "data")) / "models"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """`--data-dir` / `--models-dir` / `--out` for a training command."""
    parser.add_argument("--data-dir", type=Path, help="service data dir; models go to DIR/models")
    parser.add_argument("--models-dir", type=Path, help="models folder (env NESTVEC_MODELS_DIR)")
    parser.add_argument("--out", type=Path, help="exact output folder (overrides the above)")


def output_dir(args: argparse.Namespace, artifact: str) -> Path:
    """The folder a training run writes `artifact` to."""
    if args.out is not None:
        return Path(args.out)
    if args.models_dir is not None:
        return Path(args.models_dir) / artifact
    if args.data_dir is not None:
        return Path(args.data_dir) / "models" / artifact
    return default_models_dir() / artifact

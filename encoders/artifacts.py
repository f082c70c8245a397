"""Where trained encoder artifacts live: DATA_DIR/models/<artifact> unless told otherwise.

The service and `nestvec train` both resolve the folder through `service.settings.Settings`
(NESTVEC_DATA_DIR / NESTVEC_MODELS_DIR) and hand it down, so a model trained with `--data-dir D`
is served by `nestvec serve --data-dir D`. Nothing here reads the environment. Files derived from
installed packages (minilm's ONNX export) belong to the user rather than to a data directory:
they are cached under ~/.cache/nestvec unless an encoder is given a folder of its own.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterable
from pathlib import Path

from nestvec.cli_types import path_arg

# The project's real data beside the checkout (../shared/data), the trainers' default source:
# resolved from this file, so a command run from any folder finds it.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Settings' default (data_dir "data"); used only by callers that were handed no folder.
DEFAULT_MODELS_DIR = Path("data") / "models"


def default_models_dir() -> Path:
    """The models folder of the default data directory, for callers given none."""
    return DEFAULT_MODELS_DIR


def default_cache_dir() -> Path:
    """Files rebuilt from installed packages on demand, shared by every data directory."""
    return Path.home() / ".cache" / "nestvec"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """`--data-dir` / `--models-dir` / `--out` for a training command."""
    parser.add_argument(
        "--data-dir", type=path_arg, help="service data dir; models go to DIR/models"
    )
    parser.add_argument(
        "--models-dir", type=path_arg, help="models folder (env NESTVEC_MODELS_DIR)"
    )
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


# What a fingerprint hashes in a model folder: weights, configs and vocabularies. Model cards
# (README.md) and git metadata change nothing about the vectors, so they are left out.
FINGERPRINT_SUFFIXES = (".safetensors", ".bin", ".npz", ".pt", ".json", ".txt", ".model")
FINGERPRINT_CHARS = 16


def file_sha256(path: Path) -> str:
    """sha256 of a file's content, read in chunks (90 MB of weights take well under a second)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(*parts: str) -> str:
    """A short stable hash of the parts (what determines an encoder's vectors)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:FINGERPRINT_CHARS]


def files_fingerprint(kind: str, files: Iterable[Path], root: Path | None = None) -> str:
    """Fingerprint of `kind` plus the content hashes of `files` (named relative to `root`)."""
    parts = [kind]
    for file in sorted(Path(f) for f in files):
        name = file.relative_to(root).as_posix() if root is not None else file.name
        parts.append(f"{name}:{file_sha256(file)}")
    return fingerprint(*parts)


def folder_fingerprint(kind: str, folder: Path) -> str:
    """Fingerprint of a model folder: the content of its weight, config and vocabulary files."""
    folder = Path(folder)
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in FINGERPRINT_SUFFIXES and not p.name.startswith(".")
    ]
    return files_fingerprint(kind, files, folder)

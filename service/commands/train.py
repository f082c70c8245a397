"""`nestvec train <family>`: one subcommand per trainable encoder family.

Each family's training CLI lives beside its encoder as a module with `add_arguments(parser)` and
`run(args) -> int`; those modules keep heavy imports (torch, datasets) inside `run` so building
the parser stays cheap. Trained artifacts go to DATA_DIR/models/<name>, where `nestvec serve`
finds them.
"""

from __future__ import annotations

import argparse
import importlib

# family -> (module with add_arguments/run, help line)
TRAINERS: dict[str, tuple[str, str]] = {
    "mrl": ("encoders.mrl.train_cli", "Matryoshka text encoder: fine-tune or adapter"),
    "moe": ("encoders.moe.train_cli", "mixture-of-experts sentence encoder, domain experts"),
    "graph": ("encoders.graph.train_cli", "PinSage-style graph encoder on a citation graph"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    families = parser.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family, (module_name, help_text) in TRAINERS.items():
        module = importlib.import_module(module_name)
        sub = families.add_parser(family, help=help_text)
        module.add_arguments(sub)
        sub.set_defaults(train=module.run)


def run(args: argparse.Namespace) -> int:
    return int(args.train(args))

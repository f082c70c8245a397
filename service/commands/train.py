"""`nestvec train <family>`: one subcommand per trainable encoder family.

Each family's training CLI lives beside its encoder as a module with `add_arguments(parser)` and
`run(args) -> int`; those modules keep heavy imports (torch, datasets) inside `run` so building
the parser stays cheap. A family's module is imported only when `nestvec train <family>` is
parsed, so the server and the other commands never import training code. Trained artifacts go
to DATA_DIR/models/<name>, where `nestvec serve` finds them.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

from encoders.artifacts import output_dir
from nestvec.cli_types import OneLineParser
from service.settings import Settings

# family -> (module with add_arguments/run, help line)
TRAINERS: dict[str, tuple[str, str]] = {
    "mrl": ("encoders.mrl.train_cli", "Matryoshka text encoder: fine-tune or adapter"),
    "moe": ("encoders.moe.train_cli", "mixture-of-experts sentence encoder, domain experts"),
    "graph": ("encoders.graph.train_cli", "PinSage-style graph encoder on a citation graph"),
}

# Help for the options a family's module leaves without one, so `nestvec train <family> --help`
# documents every option; a module's own help text, where it gives one, wins.
OPTION_HELP: dict[str, dict[str, str]] = {
    "mrl": {
        "--mode": "finetune: train MiniLM itself; adapter: a map on a frozen encoder; pca: a "
        "PCA rotation",
        "--max-pairs": "training pairs used (default: the mode's)",
        "--batch-size": "pairs per step (default: the mode's)",
        "--epochs": "passes over the pairs (default: the mode's)",
        "--lr": "learning rate (default: the mode's)",
        "--seed": "seed of the pair sample and the training (%(default)s)",
    },
    "moe": {
        "--layers": "middle: experts in the middle layers only; all: in every layer (%(default)s)",
        "--batch-size": "pairs per contrastive step (%(default)s)",
        "--lr": "learning rate (%(default)s)",
        "--seed": "seed of the data and the training (%(default)s)",
        "--threads": "torch threads (%(default)s)",
    },
    "graph": {
        "--lr": "learning rate (%(default)s)",
        "--dropout": "dropout between the graph layers (%(default)s)",
    },
}


def _fill_help(parser: argparse.ArgumentParser, texts: dict[str, str]) -> None:
    for action in parser._actions:
        if action.help is None:
            action.help = next((texts[o] for o in action.option_strings if o in texts), None)
        # what a run without the flag uses, unless the help says it already
        default, text = action.default, action.help
        if text is None or default in (None, False, argparse.SUPPRESS) or "default" in text:
            continue
        if f"({default}" not in text:
            text = f"{text[:-1]}; default %(default)s)" if text.endswith(")") else text
            action.help = text if text.endswith(")") else f"{text} (%(default)s)"


class FamilyParser(OneLineParser):
    """A family's parser that imports its training CLI module on first parse."""

    def __init__(self, *args: Any, module_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.module_name = module_name
        self._loaded = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not self._loaded:
            module = importlib.import_module(self.module_name)
            module.add_arguments(self)
            _fill_help(self, OPTION_HELP.get(self.module_name.split(".")[1], {}))
            self.set_defaults(train=module.run)
            self._loaded = True
        return super().parse_known_args(args, namespace)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    families = parser.add_subparsers(
        dest="family", required=True, metavar="FAMILY", parser_class=FamilyParser
    )
    for family, (module_name, help_text) in TRAINERS.items():
        families.add_parser(family, help=help_text, module_name=module_name)


def run(args: argparse.Namespace) -> int:
    if args.out is None and args.models_dir is None and args.data_dir is None:
        # no folder given: the one `nestvec serve` reads (NESTVEC_DATA_DIR / NESTVEC_MODELS_DIR)
        args.models_dir = Settings().resolved_models_dir
    _check_writable(output_dir(args, "_"))
    return int(args.train(args))


def _check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be made before training, not after it (a file where
    a folder goes was found only when the model was saved: 9 minutes into a fine-tune)."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise NotADirectoryError(f"{path} is a file, not a folder (--out, --models-dir)")
            if not os.access(path, os.W_OK | os.X_OK):
                raise PermissionError(f"{path} is not writable (--out, --models-dir)")
            return

"""Build the mixture-of-experts SentenceTransformer from base MiniLM, save and load it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DOMAINS_FILE = "moe_config.json"  # written by MoEBert.save; read without torch by the encoder
# The experts' domains; here rather than in moe/data.py so the encoder never imports training code.
# A domain is a corpus with its own register, as the paper's are: AG News's four topics are one
# `news` domain (as four, a linear probe on base MiniLM told them apart 0.86 of the time,
# business from scitech least; as one, 0.96 of the six-way texts' domains).
DOMAINS = ("scifact", "nfcorpus", "news")


def load_base() -> Any:
    """The packaged all-MiniLM-L6-v2 (offline), as `encoders.minilm` loads it."""
    from encoders.minilm import load_minilm

    return load_minilm()


def build_moe(domains: Sequence[str], layers: str = "middle", base: Any | None = None) -> Any:
    """An untrained MoE SentenceTransformer: equal to the base model whatever the routing."""
    import copy

    from sentence_transformers import SentenceTransformer

    from encoders.moe.module import MoEBert

    base = base if base is not None else load_base()
    transformer, pooling, normalize = copy.deepcopy(list(base))
    bert = transformer.auto_model
    bert.pooler = None  # sentence embeddings come from mean pooling; the pooler is dead weight
    module = MoEBert(
        bert,
        transformer.tokenizer,
        domains,
        layers=layers,
        max_seq_length=transformer.max_seq_length,
        do_lower_case=bool(getattr(transformer, "do_lower_case", False)),
    )
    return SentenceTransformer(modules=[module, pooling, normalize], device="cpu")


def load_moe(path: Path) -> Any:
    """The saved MoE model: `SentenceTransformer(path, trust_remote_code=True)`, since the
    head module is this package's class (named in modules.json), not a built-in one."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        str(path), device="cpu", local_files_only=True, trust_remote_code=True
    )


def read_domains(path: Path) -> list[str] | None:
    """Domains of a saved MoE model without importing torch, or None if it is not there."""
    config = Path(path) / DOMAINS_FILE
    if not config.is_file() or not (Path(path) / "modules.json").is_file():
        return None
    return list(json.loads(config.read_text())["domains"])


def moe_module(model: Any) -> Any:
    """The `MoEBert` at the head of a MoE SentenceTransformer."""
    return model[0]

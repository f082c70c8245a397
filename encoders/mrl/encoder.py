"""`minilm-mrl`: all-MiniLM-L6-v2 fine-tuned with MatryoshkaLoss, served with nested dims.

The fine-tuned model (~90 MB) is not committed: `nestvec train mrl --mode finetune` writes it to
DATA_DIR/models/minilm-mrl. Without it the encoder serves the base model and says so at load
and in `GET /v1/encoders` (its truncated prefixes are then much weaker).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from encoders.artifacts import fingerprint, folder_fingerprint
from encoders.base import Modality
from encoders.minilm import MiniLMEncoder, load_minilm
from encoders.precision import prepare, resolve_precision
from encoders.registry import register_encoder

ARTIFACT = "minilm-mrl"
TRAIN_COMMAND = "nestvec train mrl --mode finetune"
MRL_DIMS = (384, 256, 128, 64, 32)
SERVE_MAX_SEQ_LENGTH = 256  # trained on shorter cuts for speed; served like the base model
log = logging.getLogger(__name__)


def artifact_dir(models_dir: Path | None) -> Path | None:
    return None if models_dir is None else Path(models_dir) / ARTIFACT


def has_model(path: Path | None) -> bool:
    """A sentence-transformers folder (what `model.save` writes) is there."""
    return path is not None and (path / "modules.json").exists()


@register_encoder("minilm-mrl")
class MiniLMMRLEncoder(MiniLMEncoder):
    """Matryoshka all-MiniLM-L6-v2: prefixes of 256/128/64/32 dims usable alone."""

    modality: ClassVar[Modality] = "text"
    dim = 384
    nested_dims = MRL_DIMS

    def __init__(
        self,
        models_dir: Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        precision: str = "auto",
    ) -> None:
        path = artifact_dir(models_dir)
        self.fallback = not has_model(path)
        if self.fallback:
            log.warning(
                "minilm-mrl: no fine-tuned model under %s; serving the base minilm (run `%s`)",
                path,
                TRAIN_COMMAND,
            )
            self.model = load_minilm(device)
        else:
            from sentence_transformers import SentenceTransformer

            log.info("minilm-mrl: loading the fine-tuned model from %s", path)
            self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._fingerprint = self.artifact_fingerprint(models_dir, fallback=self.fallback)
        self.model.max_seq_length = SERVE_MAX_SEQ_LENGTH
        self.backend, self.batch_size = "torch", batch_size  # what MiniLMEncoder's methods read
        self.device, self.precision = device, resolve_precision(precision, device)
        prepare(self.model, self.precision)
        self.tokenizer = self.model.tokenizer

    @classmethod
    def artifact_fingerprint(
        cls, models_dir: Path | None = None, fallback: bool | None = None
    ) -> str:
        """The fine-tuned model's files, hashed; serving base MiniLM is a different fingerprint."""
        path = artifact_dir(models_dir)
        if fallback is None:
            fallback = not has_model(path)
        if fallback or path is None:
            return fingerprint("fallback:minilm", MiniLMEncoder.artifact_fingerprint())
        return folder_fingerprint(f"encoder:{cls.name}", path)

    @classmethod
    def describe_extra(cls, models_dir: Path | None) -> dict[str, Any]:
        path = artifact_dir(models_dir)
        return {
            "artifact": {
                "available": has_model(path),
                "path": None if path is None else str(path),
                "train_command": TRAIN_COMMAND,
                "fallback": "minilm",
            }
        }

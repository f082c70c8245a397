"""A frozen registered encoder followed by a linear Matryoshka adapter, under its own name.

`register_adapter_encoder("minilm-mrl-adapter", MiniLMEncoder)` is all a new base needs. The
adapter is looked up in DATA_DIR/models/mrl-adapter-<base>/ (what `nestvec train mrl --mode
adapter --base <base>` writes), then in the package's committed `adapters/<base>.npz`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoders.artifacts import file_sha256, fingerprint
from encoders.base import BaseEncoder, Modality
from encoders.errors import ArtifactMissing
from encoders.minilm import MiniLMEncoder
from encoders.mrl.adapter import ADAPTER_FILE, LinearAdapter, nested_dims_for
from encoders.registry import register_encoder, takes_models_dir

PACKAGED = Path(__file__).resolve().parent / "adapters"


class AdapterEncoder(BaseEncoder):
    """Encodes with `base_name` at full dimension, then applies the adapter."""

    base_cls: ClassVar[type]
    base_name: ClassVar[str]
    modality: ClassVar[Modality]

    def __init__(self, models_dir: Path | None = None) -> None:
        path = self.adapter_path(models_dir)
        if path is None:
            raise ArtifactMissing(
                f"encoder {self.name!r} has no adapter; run `{self.train_command()}`", "encoder"
            )
        self.adapter = LinearAdapter.load(path)
        kwargs = {"models_dir": models_dir} if takes_models_dir(self.base_cls) else {}
        self.base = self.base_cls(**kwargs)
        if self.adapter.dim != self.base.dim or self.adapter.base != self.base_name:
            raise ArtifactMissing(
                f"{path} is an adapter for {self.adapter.base!r} ({self.adapter.dim}-d), "
                f"not for {self.base_name!r}; run `{self.train_command()}`",
                "encoder",
            )
        self._fingerprint = self._combined(path, self.base.fingerprint)

    @classmethod
    def _combined(cls, adapter: Path, base_fingerprint: str) -> str:
        return fingerprint(f"encoder:{cls.name}", file_sha256(adapter), base_fingerprint)

    @classmethod
    def artifact_fingerprint(cls, models_dir: Path | None = None) -> str:
        """The adapter file and the base encoder's fingerprint, hashed together."""
        path = cls.adapter_path(models_dir)
        base: Any = cls.base_cls
        base_fingerprint = (
            base.artifact_fingerprint(models_dir)
            if takes_models_dir(base)
            else base.artifact_fingerprint()
        )
        if path is None:
            return fingerprint(f"encoder:{cls.name}", "no adapter", base_fingerprint)
        return cls._combined(path, base_fingerprint)

    @classmethod
    def train_command(cls) -> str:
        return f"nestvec train mrl --mode adapter --base {cls.base_name}"

    @classmethod
    def adapter_path(cls, models_dir: Path | None) -> Path | None:
        """The trained adapter under the data dir, else the packaged one, else None."""
        candidates = [PACKAGED / f"{cls.base_name}.npz"]
        if models_dir is not None:
            candidates.insert(0, Path(models_dir) / f"mrl-adapter-{cls.base_name}" / ADAPTER_FILE)
        return next((p for p in candidates if p.exists()), None)

    @classmethod
    def describe_extra(cls, models_dir: Path | None) -> dict[str, Any]:
        path = cls.adapter_path(models_dir)
        return {
            "base": cls.base_name,
            "artifact": {
                "available": path is not None,
                "path": None if path is None else str(path),
                "packaged": path is not None and path.parent == PACKAGED,
                "train_command": cls.train_command(),
            },
        }

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        return self.adapter.apply(self.base.encode(inputs, **opts))

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        return self.base.count_tokens(inputs)


def register_adapter_encoder(name: str, base_cls: type) -> type[AdapterEncoder]:
    """Register `name` as the encoder class `base_cls` + its Matryoshka adapter.

    Takes the class, not its registry name: this runs while the registry imports its modules.
    """
    base = base_cls.name  # type: ignore[attr-defined]
    cls = type(
        name.replace("-", "_"),
        (AdapterEncoder,),
        {
            "__doc__": f"{base} with a linear Matryoshka adapter (frozen base).",
            "base_cls": base_cls,
            "base_name": base,
            "modality": base_cls.modality,
            "dim": base_cls.dim,
            "nested_dims": nested_dims_for(base_cls.dim, None),
        },
    )
    return register_encoder(name)(cls)


MiniLMAdapterEncoder = register_adapter_encoder("minilm-mrl-adapter", MiniLMEncoder)

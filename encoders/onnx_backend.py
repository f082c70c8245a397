"""ONNX Runtime backend for sentence-transformers text models: which runtime, and encoding.

The model is exported, quantised and cached by `encoders/onnx_export.py`.
"auto", minilm's default backend, picks onnx-int8 except on CPUs with AMX tiles: measured on an
AVX512-BF16 EPYC without AMX, int8 encodes 1.21-1.24x the texts/s of bfloat16 torch in process and
serves 2.17x plain float32 encode over REST (median of five runs; torch 1.25x), at cosine >= 0.99
to float32 in six text domains (loadtest/onnx_domains.py); on a Sapphire Rapids CPU, AMX bfloat16
torch encoded 655 texts/s against a plain int8 export's 438, so torch stays the runtime there.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from encoders.artifacts import default_cache_dir
from encoders.errors import EncoderExtraMissing
from encoders.onnx_export import INPUTS, cached_export
from nestvec.registry import missing_module, require

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX tiles (Linux's cpuinfo flags; other systems have none to report)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return any(line.startswith("flags") and "amx_tile" in line.split() for line in cpuinfo)
    except OSError:
        return False


def resolve_backend(backend: str) -> str:
    """The runtime for `backend`: "auto" is onnx-int8, or torch on AMX CPUs (module docstring)
    and where ONNX Runtime is not installed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    return "torch" if cpu_has_amx() or missing_module("onnx") else "onnx-int8"


class OnnxTextModel:
    """Encodes texts like `SentenceTransformer.encode` (mean pooling): float models in
    length-sorted batches, the int8 model one text per call (`encode`)."""

    def __init__(
        self,
        model_path: str,
        quantize: bool,
        max_seq_length: int,
        cache_dir: Path | None = None,
        threads: int = 0,
        smooth: bool = True,
    ) -> None:
        # both come with the `onnx` extra; a missing one is named with its pip line (409)
        require("onnx", "onnx", "encoder", EncoderExtraMissing)
        ort = require("onnxruntime", "onnx", "encoder", EncoderExtraMissing)
        from transformers import AutoTokenizer

        path = self._export(model_path, cache_dir or default_cache_dir() / "onnx", quantize, smooth)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime picks (one per core)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between ops: the server's HTTP threads share the same few cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        self.max_seq_length, self.quantized = max_seq_length, quantize
        self.dim = self.session.get_outputs()[0].shape[-1]
        if self.tokenizer.padding_side != "right":  # _encode_each cuts padding off the right
            raise ValueError(f"{model_path}: expected a tokenizer that pads on the right")

    def _export(self, model_path: str, cache_dir: Path, quantize: bool, smooth: bool) -> Path:
        """The cached export; a cache that cannot be written (a read-only home or filesystem)
        costs an export into a temporary folder at each start instead of failing the load."""
        try:
            return cached_export(model_path, cache_dir, quantize, smooth)
        except OSError as error:
            log.warning(
                "ONNX cache %s not writable (%s): exporting into a temporary folder",
                cache_dir,
                error,
            )
            self._tmp = tempfile.TemporaryDirectory(prefix="nestvec-onnx-")
            return cached_export(model_path, Path(self._tmp.name), quantize, smooth)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unnormalised mean-pooled vectors, in input order.

        The int8 model runs one text per call: dynamic quantisation takes one activation range
        per call, so a text's vector would otherwise move with the texts it is batched with
        (cosine 0.995 at worst) and with load. Alone, no padding is computed either: over
        SciFact sentences one text per call keeps 0.92-0.97x the texts/s of length-sorted
        batches of 32 from one caller, and the server's two batch workers serve 16 one-text
        clients 2.06-2.28x a plain float32 encode where batched calls gave 1.63-2.00x.
        """
        if self.quantized:
            return self._encode_each(texts)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            feed = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            vectors = self.session.run(None, {name: feed[name] for name in INPUTS})[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), np.float32)
            out[rows] = vectors
        assert out is not None  # texts is never empty here (BaseEncoder checks)
        return out

    def _encode_each(self, texts: list[str]) -> np.ndarray:
        """One model call per text, each cut to its own length from one tokeniser call."""
        # The same padding and truncation as every other call: a fast tokenizer stores them on
        # its shared Rust object at each call, so other settings would flip them for concurrent
        # callers. BERT pads on the right, so a row's first `length` tokens are the text's own.
        feed = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_seq_length,
            return_tensors="np",
        )
        out = np.empty((len(texts), self.dim), np.float32)
        for i, length in enumerate(feed["attention_mask"].sum(axis=1)):
            one = {name: np.ascontiguousarray(feed[name][i : i + 1, :length]) for name in INPUTS}
            out[i] = self.session.run(None, one)[0][0]
        return out

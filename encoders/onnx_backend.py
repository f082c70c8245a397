"""ONNX Runtime backend for sentence-transformers text models: export, int8 quantisation, encode.

sentence-transformers' own `backend="onnx"` needs `optimum-onnx`, which pins transformers < 4.58
and would break the installed sentence-transformers; so the export is done here with
`torch.onnx.export`, mean pooling included in the graph, fused into onnxruntime's BERT kernels
and quantised with its dynamic int8 quantiser (per-channel weight scales) after smoothing the
feed-forward inputs and splitting their outlier channels off (`encoders/onnx_smoothing.py`).
The export reads only the local model files (nothing is downloaded) and is cached under a key of
its own settings (`onnx.json`), so a changed export never reuses a stale file and processes that
export at the same time publish one folder atomically.

"auto", minilm's default backend, picks onnx-int8 except on CPUs with AMX tiles: measured on an
AVX512-BF16 EPYC without AMX, int8 encodes 1.21-1.24x the texts/s of bfloat16 torch in process and
serves 2.17x plain float32 encode over REST (median of five runs; torch 1.25x), at cosine >= 0.99
to float32 in six text domains (loadtest/onnx_domains.py); on a Sapphire Rapids CPU, AMX bfloat16
torch encoded 655 texts/s against a plain int8 export's 438, so torch stays the runtime there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from encoders.artifacts import default_cache_dir
from encoders.errors import EncoderExtraMissing
from nestvec.registry import missing_module, require

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


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


def export_card(model_path: str, quantize: bool, smooth: bool) -> dict[str, Any]:
    """What an export is made of; written beside it as onnx.json and hashed into its cache key."""
    from encoders import onnx_smoothing

    card: dict[str, Any] = {
        "source": model_path,
        "opset": OPSET,
        "fused": "onnxruntime.transformers bert",
        "quantized": "int8-dynamic-per-channel" if quantize else False,
        "pooling": "mean",
    }
    if smooth and quantize:
        card["smoothing"] = {
            "alpha": onnx_smoothing.ALPHA,
            "calibration_texts": onnx_smoothing.CALIBRATION_TEXTS,
            "outlier_ratio": onnx_smoothing.OUTLIER_RATIO,
        }
    return card


def cached_export(model_path: str, cache_dir: Path, quantize: bool, smooth: bool = True) -> Path:
    """`cache_dir/<key>/model.onnx`, exported on first use; the key hashes the card and the
    model's files, so every process that agrees on both shares one export."""
    from encoders.artifacts import folder_fingerprint

    card = export_card(model_path, quantize, smooth)
    key = hashlib.sha256(
        (json.dumps(card, sort_keys=True) + folder_fingerprint("onnx", Path(model_path))).encode()
    ).hexdigest()[:16]
    folder = cache_dir / key
    _sweep_partials(cache_dir)
    if (folder / "onnx.json").exists():  # written last, so the model beside it is whole
        return folder / "model.onnx"
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        export_onnx(model_path, partial, quantize, smooth)
        partial.chmod(0o755)  # mkdtemp's 0700 would hide a shared (image-built) cache from users
        os.rename(partial, folder)  # atomic; fails when another process published first
    except OSError:
        if not (folder / "onnx.json").exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder / "model.onnx"


PARTIAL_TTL_S = 3600  # an export takes about 15 s; older partial folders were left by a kill


def _sweep_partials(cache_dir: Path) -> None:
    """Remove partial exports of processes killed mid-export (about 200 MB each), so a server
    restarted in a loop does not fill the disk."""
    now = time.time()
    for partial in cache_dir.glob(".*-*"):
        try:
            if partial.is_dir() and now - partial.stat().st_mtime > PARTIAL_TTL_S:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:  # another process swept it first
            continue


def export_onnx(model_path: str, out_dir: Path, quantize: bool, smooth: bool = True) -> Path:
    """Export the transformer + mean pooling to `out_dir/model.onnx` (int8 when `quantize`;
    `smooth=False` quantises without onnx_smoothing, for benchmarks to compare against)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from encoders import onnx_smoothing

    smooth = smooth and quantize
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.onnx"
    card = export_card(model_path, quantize, smooth)
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    # Eager attention exports the plain BERT pattern that onnxruntime's optimiser fuses into its
    # Attention kernel; the SDPA export is not recognised and stays about 0.7x torch's speed.
    model = AutoModel.from_pretrained(
        model_path, local_files_only=True, attn_implementation="eager"
    ).eval()
    split = 0
    if smooth:  # the same function in float, flatter activations for int8
        split = onnx_smoothing.prepare_for_int8(model, tokenizer)
    sample = tokenizer(["an example", "a longer example"], padding=True, return_tensors="pt")
    raw = out_dir / "model-raw.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"embedding": {0: "batch"}}
    # The tracer's warnings concern control flow that this fixed-shape BERT does not take.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            mean_pooled(model),
            tuple(sample[name] for name in INPUTS),
            str(raw),
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT
        )
    fuse_bert(raw, model.config, out_dir / "model-fused.onnx" if quantize else target)
    raw.unlink()
    if quantize:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fused = out_dir / "model-fused.onnx"
        # Per-channel weight scales: per-tensor ones drop the cosine to fp32 to about 0.94.
        quantize_dynamic(
            str(fused),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=onnx_smoothing.float_matmuls(onnx.load(str(fused)).graph, split),
            extra_options={"DefaultTensorType": 1},  # FLOAT, for the fused ops' outputs
        )
        fused.unlink()
    (out_dir / "onnx.json").write_text(json.dumps(card, indent=2))
    log.info("exported %s to %s", model_path, target)
    return target


def fuse_bert(source: Path, config: Any, target: Path) -> None:
    """Fuse attention, embedding and layer-norm subgraphs into onnxruntime's BERT kernels."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=1,
    )
    fused.save_model_to_file(str(target))


def mean_pooled(model: Any) -> Any:
    """A torch module around a Hugging Face encoder whose output is the mean-pooled token vector."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    return MeanPooled()


class OnnxTextModel:
    """Encodes texts like `SentenceTransformer.encode` (length-sorted batches, mean pooling)."""

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

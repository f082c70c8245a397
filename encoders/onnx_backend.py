"""ONNX Runtime backend for sentence-transformers text models: export, int8 quantisation, encode.

sentence-transformers' own `backend="onnx"` needs `optimum-onnx`, which pins transformers < 4.58
and would break the installed sentence-transformers; so the export is done here with
`torch.onnx.export`, mean pooling included in the graph, fused into onnxruntime's BERT kernels
and quantised with its dynamic int8 quantiser (per-channel weight scales) after smoothing the
feed-forward inputs and splitting their outlier channels off (`encoders/onnx_smoothing.py`).
The export reads only the local model files (nothing is downloaded) and is cached in a folder
that describes itself (`onnx.json`).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from encoders.errors import EncoderExtraMissing
from nestvec.registry import require

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def export_onnx(model_path: str, out_dir: Path, quantize: bool, smooth: bool = True) -> Path:
    """Export the transformer + mean pooling to `out_dir/model.onnx` (int8 when `quantize`;
    `smooth=False` quantises without onnx_smoothing, for benchmarks to compare against)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from encoders import onnx_smoothing

    smooth = smooth and quantize
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.onnx"
    card = {
        "source": model_path,
        "opset": OPSET,
        "fused": "onnxruntime.transformers bert",
        "quantized": "int8-dynamic-per-channel" if quantize else False,
        "pooling": "mean",
    }
    if smooth:
        card["smoothing"] = {
            "alpha": onnx_smoothing.ALPHA,
            "calibration_texts": onnx_smoothing.CALIBRATION_TEXTS,
            "outlier_ratio": onnx_smoothing.OUTLIER_RATIO,
        }
    sidecar = out_dir / "onnx.json"
    if target.exists() and sidecar.exists() and json.loads(sidecar.read_text()) == card:
        return target
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
    with torch.inference_mode():
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
    sidecar.write_text(json.dumps(card, indent=2))
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

        if cache_dir is None:  # no models dir: export once per process into a temporary folder
            self._tmp = tempfile.TemporaryDirectory(prefix="nestvec-onnx-")
            cache_dir = Path(self._tmp.name)
        path = export_onnx(model_path, cache_dir, quantize, smooth)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime picks (one per core)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between ops: the server's HTTP threads share the same few cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        self.max_seq_length = max_seq_length

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unnormalised mean-pooled vectors, in input order."""
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

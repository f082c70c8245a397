"""Export of a sentence-transformers text model to ONNX: mean pooling in the graph, BERT fusion,
int8 quantisation, and a cache that processes share.

sentence-transformers' own `backend="onnx"` needs `optimum-onnx`, which pins transformers < 4.58
and would break the installed sentence-transformers; so the export is done here with
`torch.onnx.export`, mean pooling included in the graph, fused into onnxruntime's BERT kernels
and quantised with its dynamic int8 quantiser (per-channel weight scales) after smoothing the
feed-forward inputs and splitting their outlier channels off (`encoders/onnx_smoothing.py`).
The export reads only the local model files (nothing is downloaded) and is cached under a key of
its own settings (`onnx.json`), so a changed export never reuses a stale file and processes that
export at the same time publish one folder atomically.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from encoders.artifacts import fingerprint, folder_fingerprint

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


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
    card = export_card(model_path, quantize, smooth)
    key = fingerprint(
        json.dumps(card, sort_keys=True), folder_fingerprint("onnx", Path(model_path))
    )
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

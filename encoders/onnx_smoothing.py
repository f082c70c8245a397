"""Activation treatment before dynamic int8 quantisation of a BERT encoder.

Dynamic int8 gives each activation tensor one range, so a few channels far larger than the rest
waste most of the int8 steps on them. Two remedies, each keeping the float model the same
function:

- **Smoothing** (SmoothQuant, Xiao et al., 2023) of the feed-forward up-projection's input, the
  attention block's layer-norm output: each input channel is divided by s_j and the weight's
  column j multiplied by it, with s_j = max|x_j|^a / max|w_j|^(1-a).
- **Outlier split** (LLM.int8()'s mixed-precision decomposition, Dettmers et al., 2022) of the
  down-projection's input, the GELU output: in MiniLM's first layers one or two of its 1,536
  channels reach 14-24 on the [CLS] token against a median channel peak of about 1.4. Those
  channels are zeroed in the int8 product and multiplied in float by a small MatMul of their own
  (one or two of the weight's columns), so the int8 range covers the other channels only. Smoothing
  cannot do this here: its scales land on the weight's input columns, which the per-output-row
  weight scales cannot absorb.

Both read channel maxima from sentences of random vocabulary words (seeded), so the export reads
no data beyond the model's own files. Against torch float32 (`loadtest/onnx_domains.py`),
smoothing alone took the worst cosine over 2,000 SciFact sentences from 0.979 to about 0.987;
the outlier split, which replaced keeping layer 0's down-projection float, takes every text
domain of ../shared/data to 0.99 or more.
Imported only by the export (it needs torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ALPHA = 0.75  # migration strength: of 0.5, 0.6, 0.75, 0.85, 0.9, the best worst case
CALIBRATION_TEXTS = 600
# A down-projection input channel is split off when its calibration peak passes this multiple
# of the median channel peak (ratios 4, 6 and 10 tried; 6 gave the best worst case).
OUTLIER_RATIO = 6.0
OUTLIER_MARK = "/output/dense/outliers/"  # in the exported names of the split's float MatMuls


def calibration_texts(
    vocab: dict[str, int], n: int = CALIBRATION_TEXTS, seed: int = 0
) -> list[str]:
    """`n` strings of 5-39 random whole alphabetic vocabulary words (no data files needed)."""
    words = sorted(w for w in vocab if w.isalpha() and len(w) > 2)
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, int(rng.integers(5, 40)))) for _ in range(n)]


def prepare_for_int8(model: Any, tokenizer: Any, max_length: int = 256) -> int:
    """Smooth each layer's up-projection and split the outlier channels off its down-projection,
    in place; returns how many layers got an outlier split (one float MatMul each)."""
    layers = list(model.encoder.layer)
    ups = [layer.intermediate.dense for layer in layers]
    downs = [layer.output.dense for layer in layers]
    peaks = input_peaks(model, tokenizer, ups + downs, max_length)
    split = 0
    for i, layer in enumerate(layers):
        up, down = peaks[i], peaks[len(layers) + i]
        layer.intermediate.dense = ScaledLinear(ups[i], channel_scales(up, ups[i].weight))
        outliers = torch.nonzero(down > OUTLIER_RATIO * down.median()).flatten().tolist()
        if outliers:
            layer.output.dense = OutlierSplitLinear(downs[i], outliers)
            split += 1
    return split


def input_peaks(
    model: Any, tokenizer: Any, modules: list[torch.nn.Module], max_length: int = 256
) -> list[torch.Tensor]:
    """Per-channel max |input| of each module over the calibration texts."""
    peaks: dict[int, torch.Tensor] = {}

    def track(at: int) -> Any:
        def hook(_module: Any, inputs: tuple) -> None:
            peak = inputs[0].detach().abs().amax(dim=(0, 1))
            peaks[at] = torch.maximum(peaks[at], peak) if at in peaks else peak

        return hook

    hooks = [module.register_forward_pre_hook(track(i)) for i, module in enumerate(modules)]
    texts = calibration_texts(tokenizer.vocab)
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), 32):
                batch = tokenizer(
                    texts[start : start + 32],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                model(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    return [peaks[i] for i in range(len(modules))]


def channel_scales(x_peak: Any, weight: Any, alpha: float = ALPHA) -> Any:
    """s_j = max|x_j|^alpha / max|w_j|^(1-alpha) over the input channels j."""
    w_peak = weight.detach().abs().amax(dim=0).clamp_min(1e-5)
    return x_peak.clamp_min(1e-5) ** alpha / w_peak ** (1 - alpha)


def float_matmuls(graph: Any, expected: int) -> list[str]:
    """Names of the MatMul nodes to keep float: the outlier splits' (`expected` of them)."""
    names = [
        node.name for node in graph.node if node.op_type == "MatMul" and OUTLIER_MARK in node.name
    ]
    if len(names) != expected:  # the exporter named them otherwise: say so
        raise RuntimeError(f"expected {expected} MatMuls named *{OUTLIER_MARK}*: {names}")
    return names


class ScaledLinear(torch.nn.Module):
    """x -> linear(x / s) with the weight's columns times s: the same map in float."""

    def __init__(self, linear: torch.nn.Linear, scales: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("inverse", (1.0 / scales).to(linear.weight.dtype))
        self.linear = torch.nn.Linear(linear.in_features, linear.out_features)
        with torch.no_grad():
            self.linear.weight.copy_(linear.weight * scales[None, :])
            self.linear.bias.copy_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.inverse)


class OutlierSplitLinear(torch.nn.Module):
    """linear(x) as linear(x with `channels` zeroed) + x[channels] @ their weight columns: the
    same map in float; only the first product is quantised (the second, `outliers`, is not)."""

    def __init__(self, linear: torch.nn.Linear, channels: list[int]) -> None:
        super().__init__()
        keep = torch.ones(linear.in_features, dtype=linear.weight.dtype)
        keep[channels] = 0
        self.register_buffer("keep", keep)
        self.register_buffer("channels", torch.tensor(channels, dtype=torch.long))
        self.linear = torch.nn.Linear(linear.in_features, linear.out_features)
        self.outliers = torch.nn.Linear(len(channels), linear.out_features, bias=False)
        with torch.no_grad():
            # zeroed columns also narrow each output row's int8 weight range
            self.linear.weight.copy_(linear.weight * keep[None, :])
            self.linear.bias.copy_(linear.bias)
            self.outliers.weight.copy_(linear.weight[:, channels])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.keep) + self.outliers(x.index_select(-1, self.channels))

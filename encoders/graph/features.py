"""Node feature sources, by name: the graph's own vectors ("bow") or text-encoder vectors of
each node's text ("text"). Rows are L2-normalised so both kinds live on the same scale."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from encoders.graph.data import Graph

FeatureSource = Callable[[Graph, dict[str, Any]], np.ndarray]
FEATURES: dict[str, FeatureSource] = {}
TEXT_ENCODER = "minilm"


def register_features(name: str) -> Callable[[FeatureSource], FeatureSource]:
    def decorate(fn: FeatureSource) -> FeatureSource:
        FEATURES[name] = fn
        return fn

    return decorate


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@register_features("bow")
def own_features(graph: Graph, opts: dict[str, Any]) -> np.ndarray:
    """The graph's own node features (Cora: 1,433-word binary bag of words)."""
    return unit_rows(graph.features)


@register_features("text")
def text_features(graph: Graph, opts: dict[str, Any]) -> np.ndarray:
    """Text-encoder (minilm) vectors of each node's text."""
    if graph.text is None:
        raise ValueError(
            "--features text needs node text (a --text-field column of the node table); "
            "this graph has none (Cora Planetoid ships only bag-of-words vectors)"
        )
    return encode_texts(graph.text)


@cache
def text_encoder() -> Any:
    """The packaged text encoder, loaded once (offline) and shared: it keeps no per-call state."""
    from encoders.registry import EncoderPool

    return EncoderPool().get(TEXT_ENCODER)


def encode_texts(texts: Sequence[str]) -> np.ndarray:
    """Node text through the packaged text encoder (loaded on first use)."""
    return unit_rows(text_encoder().encode(list(texts)))


def node_features(graph: Graph, kind: str, opts: dict[str, Any] | None = None) -> np.ndarray:
    """Features of every node from the source `kind`."""
    if kind not in FEATURES:
        raise ValueError(f"unknown feature source {kind!r}; known: {', '.join(sorted(FEATURES))}")
    return FEATURES[kind](graph, opts or {})

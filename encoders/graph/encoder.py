"""`graph-cora`: the PinSage-style model trained by `nestvec train graph`, served by node id or
inductively for new nodes (features + edges to known nodes), without retraining."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoders.base import BaseEncoder, Modality
from encoders.errors import ArtifactMissing
from encoders.registry import register_encoder

ARTIFACT = "graph-cora"
EMBED_DIM = 128  # the class must know its dim before anything loads (GET /v1/encoders)
TRAIN_COMMAND = "nestvec train graph"


@register_encoder(ARTIFACT)
class GraphEncoder(BaseEncoder):
    """Node embeddings of the Cora citation graph (PinSage: random-walk neighbourhoods, K=2)."""

    modality: ClassVar[Modality] = "graph"
    dim = EMBED_DIM
    nested_dims = (EMBED_DIM,)

    def __init__(self, models_dir: Path) -> None:
        from encoders.graph import artifact

        folder = Path(models_dir) / ARTIFACT
        if not artifact.exists(folder):
            raise ArtifactMissing(
                f"encoder {ARTIFACT!r} is not trained: no model in {folder}; "
                f"run `{TRAIN_COMMAND} --models-dir {Path(models_dir)}`",
                "encoder",
            )
        self.artifact = artifact.load(folder)
        self.artifact.table.tensors()  # fill its lazy cache now, not from concurrent requests
        self.row_of = self.artifact.row_of
        self.meta = self.artifact.meta
        # of the folder it loaded (left unset, `fingerprint` hashed the name alone: ingest's
        # folder hash then disagreed, and a retrained model went unnoticed)
        self._fingerprint = type(self).artifact_fingerprint(models_dir)

    @classmethod
    def describe_extra(cls, models_dir: Path | None) -> dict[str, Any]:
        from encoders.graph import artifact

        folder = None if models_dir is None else Path(models_dir) / ARTIFACT
        return {
            "artifact": {
                "path": None if folder is None else str(folder),
                "available": folder is not None and artifact.exists(folder),
                "train_command": TRAIN_COMMAND,
                "fallback": None,
            }
        }

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        import torch

        from encoders.graph.features import encode_texts, unit_rows
        from encoders.graph.inputs import parse_inputs
        from encoders.graph.propagation import propagate_new
        from encoders.graph.sampler import WalkConfig, neighbourhoods, ragged

        table = self.artifact.table
        width = table.features.shape[1]
        takes_text = self.meta["features"]["kind"] == "text"
        refs = parse_inputs(inputs, self.row_of, width, takes_text)
        own = np.zeros((len(inputs), width), dtype=np.float32)
        nbr_idx = np.zeros((len(inputs), table.idx.shape[1]), dtype=np.int64)
        nbr_w = np.zeros(nbr_idx.shape, dtype=np.float32)
        for i, row in refs.known:
            own[i], nbr_idx[i], nbr_w[i] = table.features[row], table.idx[row], table.weight[row]
        if refs.adhoc:
            at = [i for i, *_ in refs.adhoc]
            own[at] = self._own_features(refs.adhoc, encode_texts, unit_rows)
            ends = self._other_ends(refs)  # training graphs hold no self-loops either
            if table.hops:  # the same propagation as the known rows, over the given edges
                own[at] = propagate_new(own[at], ends, table.stack, table.indptr, table.weights)
            ptr, hops = ragged(ends)
            walk = WalkConfig(**self.meta["walk"])
            nbr_idx[at], nbr_w[at] = neighbourhoods(ptr, hops, table.indptr, table.indices, walk)
        x, t_idx, t_w = table.tensors()
        with torch.no_grad():
            z = self.artifact.model(
                torch.from_numpy(own),
                torch.from_numpy(nbr_idx),
                torch.from_numpy(nbr_w),
                x,
                t_idx,
                t_w,
            )
        return z.numpy()

    @staticmethod
    def _other_ends(refs: Any) -> list[np.ndarray]:
        """Each new node's edges, without a link of a known node to itself."""
        from encoders.graph.inputs import edge_lists

        pairs = zip(edge_lists(refs), [row for _, row, _, _ in refs.adhoc], strict=True)
        return [e[e != row] if row is not None else e for e, row in pairs]

    def _own_features(self, adhoc: list, encode_texts: Any, unit_rows: Any) -> np.ndarray:
        """New nodes' own features, normalised as the training features were."""
        table = self.artifact.table
        rows = np.zeros((len(adhoc), table.features.shape[1]), dtype=np.float32)
        texts = [(k, v) for k, (_, row, v, _) in enumerate(adhoc) if isinstance(v, str)]
        for k, (_, row, value, _) in enumerate(adhoc):
            if row is not None:
                rows[k] = table.raw[row]
            elif isinstance(value, list):
                rows[k] = unit_rows(_scaled_down([value]))[0]
        if texts:
            rows[[k for k, _ in texts]] = encode_texts([v for _, v in texts])
        return rows


def _scaled_down(rows: list[list[float]]) -> np.ndarray:
    """Rows divided by their largest magnitude, in float64: the direction is all a new node's
    features keep, and values past float32's range (or whose squares are) stay finite."""
    x = np.asarray(rows, dtype=np.float64)
    top = np.abs(x).max(axis=1, keepdims=True)
    return (x / np.where(top > 0, top, 1.0)).astype(np.float32)

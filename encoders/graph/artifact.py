"""A trained graph model on disk: weights, the graph it embeds over, the edge split, and a JSON
that describes it all. Pickle-free: numpy .npz (allow_pickle=False) and a torch state dict loaded
with weights_only=True."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # training imports torch: describing the encoder must not load it
    from encoders.graph.training import NeighbourTable

MODEL_JSON = "graph.json"
WEIGHTS = "model.pt"
GRAPH = "graph.npz"
SPLIT = "split.npz"


@dataclass
class GraphArtifact:
    """What the encoder loads: description, model, the known graph and its node ids."""

    meta: dict[str, Any]
    model: Any  # PinSage
    table: NeighbourTable
    ids: list[str]

    @property
    def row_of(self) -> dict[str, int]:
        return {node: i for i, node in enumerate(self.ids)}


def save(
    folder: Path,
    meta: dict[str, Any],
    model: Any,
    table: NeighbourTable,
    ids: list[str],
    split: dict[str, np.ndarray],
) -> None:
    """Write the artifact; the JSON goes last so a half-written folder never looks complete."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / WEIGHTS)
    np.savez_compressed(
        folder / GRAPH,
        ids=np.asarray(ids, dtype=str),
        features=table.raw,  # the model input is recomputed from these (graph.json "propagation")
        indptr=table.indptr,
        indices=table.indices,
        idx=table.idx,
        weight=table.weight,
    )
    np.savez_compressed(folder / SPLIT, **split)
    (folder / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n")


def exists(folder: Path) -> bool:
    return (folder / MODEL_JSON).is_file()


def load(folder: Path) -> GraphArtifact:
    """Read an artifact written by `save`."""
    import torch

    from encoders.graph.model import ModelConfig, PinSage
    from encoders.graph.training import NeighbourTable

    meta = json.loads((folder / MODEL_JSON).read_text())
    model = PinSage(ModelConfig(**meta["model"]))
    model.load_state_dict(torch.load(folder / WEIGHTS, weights_only=True))
    model.eval()
    with np.load(folder / GRAPH, allow_pickle=False) as z:
        spread = meta.get("propagation", {})  # earlier artifacts: SGC's last hop (no alpha)
        hops, alpha = int(spread.get("hops", 0)), spread.get("alpha")
        table = NeighbourTable(
            z["features"], z["indptr"], z["indices"], z["idx"], z["weight"], hops, alpha
        )
        ids = [str(x) for x in z["ids"]]
    return GraphArtifact(meta, model, table, ids)


def load_split(folder: Path) -> dict[str, np.ndarray]:
    """The saved edge split (train / held_out row pairs, and the test negatives)."""
    with np.load(folder / SPLIT, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}

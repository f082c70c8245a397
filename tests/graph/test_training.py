"""A seconds-long training run on a slice of Cora lowers the max-margin loss."""

from __future__ import annotations

import numpy as np
import torch
from support import DATA

from encoders.graph.data import load_planetoid
from encoders.graph.features import unit_rows
from encoders.graph.loss import max_margin_loss
from encoders.graph.sampler import WalkConfig
from encoders.graph.training import TrainConfig, embed_all, train


def test_a_short_run_lowers_the_loss() -> None:
    torch.set_num_threads(1)
    graph = load_planetoid(DATA / "cora_planetoid")
    keep = 800  # the first 800 papers and the links among them
    edges = graph.edges[(graph.edges < keep).all(axis=1)]
    cfg = TrainConfig(
        epochs=4,
        batch_size=256,
        hidden=32,
        dim=16,
        shared_negatives=64,
        hard_negatives=2,
        hard_ranks=(5, 60),
        walk=WalkConfig(walks=30, length=2, top_t=6),
    )
    result = train(unit_rows(graph.features[:keep]), edges, cfg)
    assert len(result.losses) == 4
    assert result.losses[-1] < 0.7 * result.losses[0], result.losses
    z = embed_all(result.model, result.table)
    assert z.shape == (keep, 16)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_max_margin_loss_counts_only_violations() -> None:
    q = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0]])
    shared = torch.tensor([[0.0, 1.0], [0.96, 0.28]])  # q.n = 0 and 0.96
    hard = torch.tensor([[[0.8, 0.6]]])  # q.n = 0.8
    # hinge: relu(0 - 1 + 0.1) = 0, relu(0.96 - 1 + 0.1) = 0.06, relu(0.8 - 1 + 0.1) = 0
    loss = max_margin_loss(q, p, shared, hard, margin=0.1)
    assert abs(loss.item() - 0.06 / 3) < 1e-6

"""GraphSAGE baseline for the benchmark: PyG `SAGEConv` x2 (mean aggregator, full neighbourhood),
trained with exactly our signal: training edges as positives, the same max-margin loss, shared
random negatives and the same PPR-ranked hard negatives and curriculum."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from encoders.graph.data import csr
from encoders.graph.loss import max_margin_loss
from encoders.graph.negatives import ppr_ranked, sample_hard, sample_random
from encoders.graph.training import TrainConfig
from nestvec.registry import require


class Sage(nn.Module):
    """Two SAGEConv layers (ReLU, dropout between), L2-normalised output."""

    def __init__(self, d_in: int, hidden: int, dim: int, dropout: float) -> None:
        # PyG comes with the `graph` extra; without it the error names the pip line
        SAGEConv = require("torch_geometric.nn", "graph").SAGEConv  # noqa: N806 - a class

        super().__init__()
        self.conv1, self.conv2 = SAGEConv(d_in, hidden), SAGEConv(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = self.dropout(F.relu(self.conv1(x, edge_index)))
        return F.normalize(self.conv2(h, edge_index), dim=1)


def train_sage(
    features: np.ndarray, edges: np.ndarray, cfg: TrainConfig, progress=None
) -> np.ndarray:  # noqa: ANN001
    """Train full-batch on the training graph; returns every node's embedding (eval mode)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n = len(features)
    indptr, indices = csr(n, edges)
    hard_pool = ppr_ranked(indptr, indices, cfg.hard_ranks) if cfg.hard_negatives else None
    both = np.concatenate([edges, edges[:, ::-1]])
    edge_index = torch.from_numpy(both.T.copy())
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    model = Sage(x.shape[1], cfg.hidden, cfg.dim, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if progress is not None:
        progress.reset(total=cfg.epochs * -(-len(both) // cfg.batch_size))
    for epoch in range(cfg.epochs):
        model.train()
        hard_k = min(epoch if cfg.curriculum else cfg.hard_negatives, cfg.hard_negatives)
        order = rng.permutation(len(both))
        for s in range(0, len(both), cfg.batch_size):
            batch = both[order[s : s + cfg.batch_size]]
            q = batch[:, 0]
            z = model(x, edge_index)
            shared = torch.from_numpy(sample_random(n, cfg.shared_negatives, rng))
            hard = None
            if hard_pool is not None and hard_k:
                hard = z[torch.from_numpy(sample_hard(hard_pool, q, hard_k, rng))]
            loss = max_margin_loss(
                z[torch.from_numpy(q)],
                z[torch.from_numpy(batch[:, 1])],
                z[shared],
                hard,
                cfg.margin,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if progress is not None:
                progress.update(1)
                progress.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        return model(x, edge_index).numpy()

"""PinSage's CONVOLVE layers and the K=2 model that stacks them.

CONVOLVE (Ying et al. 2018, Algorithm 1): transform each neighbour (dense + ReLU), pool them with
their random-walk importance weights, concatenate with the node's own representation, dense +
ReLU, L2-normalise. After K=2 layers a small dense head (G1, ReLU, G2) gives the embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def importance_pool(neighbours: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Importance-weighted mean over the neighbour axis: (b, t, d), (b, t) -> (b, d).

    A node whose weights are all zero (no neighbours) pools to the zero vector.
    """
    total = weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return torch.einsum("btd,bt->bd", neighbours, weights) / total


def rows(features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of a dense or sparse (COO) feature matrix."""
    return features.index_select(0, index) if features.is_sparse else features[index]


def linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """`layer(x)` that also takes a sparse x (bag-of-words rows are ~1% non-zero)."""
    if x.is_sparse:
        out = torch.sparse.mm(x, layer.weight.T)
        return out if layer.bias is None else out + layer.bias
    return layer(x)


class Convolve(nn.Module):
    """One CONVOLVE layer: pooled transformed neighbours concatenated with self, dense, norm.

    W [self ; pooled] is written as W_self self + W_pool pooled (the same map) so that the
    self part can take sparse rows.
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.transform = nn.Linear(d_in, d_hidden)  # Q, q
        self.combine_self = nn.Linear(d_in, d_out)  # W (self half), w
        self.combine_pool = nn.Linear(d_hidden, d_out, bias=False)  # W (neighbour half)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, own: torch.Tensor, rows: torch.Tensor, index: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """own (b, d_in); neighbour `rows` (m, d_in) gathered by `index` (b, t); weights (b, t).

        Each distinct neighbour is transformed once, then gathered (far cheaper than (b, t, d)).
        """
        transformed = self.dropout(F.relu(linear(rows, self.transform)))
        pooled = importance_pool(transformed[index], weights)
        z = F.relu(linear(own, self.combine_self) + self.combine_pool(pooled))
        return F.normalize(z, dim=1)


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the model (saved in the artifact so it rebuilds itself)."""

    in_dim: int
    hidden: int = 256
    dim: int = 128
    dropout: float = 0.3
    skip: bool = False  # add a linear map of the node's own input to the head's output


class PinSage(nn.Module):
    """Two CONVOLVE layers over random-walk neighbourhoods, then the dense head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layer1 = Convolve(cfg.in_dim, cfg.hidden, cfg.hidden, cfg.dropout)
        self.layer2 = Convolve(cfg.hidden, cfg.hidden, cfg.hidden, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Sequential(
            nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.dim)
        )
        # with propagated input the node's own row already carries its neighbourhood; a linear
        # path keeps that signal instead of relearning it through two ReLU layers
        self.skip = nn.Linear(cfg.in_dim, cfg.dim, bias=False) if cfg.skip else None

    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def forward(
        self,
        own: torch.Tensor,
        nbr_idx: torch.Tensor,
        nbr_w: torch.Tensor,
        features: torch.Tensor,
        table_idx: torch.Tensor,
        table_w: torch.Tensor,
    ) -> torch.Tensor:
        """Embed b nodes given by their own features and neighbourhoods (idx, w) over the graph.

        `features` (n, f) and the neighbourhood table (n, t) describe the known graph; only the
        rows the b nodes reach through two layers are computed (PinSage's minibatch).
        """
        needed, inverse = torch.unique(nbr_idx, return_inverse=True)
        hop2, hop2_at = torch.unique(table_idx[needed], return_inverse=True)
        # layer 1 for the nodes themselves and for each distinct neighbour
        h1_needed = self.layer1(
            rows(features, needed), rows(features, hop2), hop2_at, table_w[needed]
        )
        h1_own = self.layer1(own, rows(features, needed), inverse, nbr_w)
        h2 = self.layer2(self.drop(h1_own), self.drop(h1_needed), inverse, nbr_w)
        out = self.head(h2)
        if self.skip is not None:
            out = out + linear(own, self.skip)
        return F.normalize(out, dim=1)

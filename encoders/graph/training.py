"""Training loop: linked pairs as positives, shared random + PPR-hard negatives, max-margin loss."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from encoders.graph.data import csr
from encoders.graph.loss import max_margin_loss
from encoders.graph.model import ModelConfig, PinSage
from encoders.graph.negatives import ppr_ranked, sample_hard, sample_random
from encoders.graph.propagation import hop_stack, hop_weights, model_input
from encoders.graph.sampler import WalkConfig, graph_neighbourhoods


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs besides the data; saved in the artifact's JSON."""

    epochs: int = 20
    batch_size: int = 2048
    lr: float = 3e-3
    weight_decay: float = 1e-5
    margin: float = 0.1
    shared_negatives: int = 256
    hard_negatives: int = 6  # per query, at the end of the curriculum
    hard_ranks: tuple[int, int] = (20, 200)
    curriculum: bool = True  # epoch e uses min(e, hard_negatives) hard negatives (PinSage)
    max_steps: int | None = None  # stop early (the --tiny run)
    seed: int = 0
    walk: WalkConfig = field(default_factory=WalkConfig)
    hidden: int = 256
    dim: int = 128
    dropout: float = 0.5
    hops: int = 0  # propagation of the input features over the training graph (0 = raw)
    alpha: float | None = None  # personalised PageRank's teleport weight; None: SGC's last hop
    skip: bool = False  # the model's linear path from its own input to the output


@dataclass
class NeighbourTable:
    """The known graph as the model sees it: features, CSR adjacency, top-T neighbourhoods.

    `raw` are the nodes' own features; `features` the model input: raw propagated `hops` times,
    the hops weighted by `weights` (propagation.hop_weights of `alpha`).
    """

    raw: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    idx: np.ndarray
    weight: np.ndarray
    hops: int = 0
    alpha: float | None = None
    stack: list[np.ndarray] = field(init=False, repr=False)
    weights: np.ndarray = field(init=False, repr=False)
    features: np.ndarray = field(init=False, repr=False)
    _tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = field(
        default=None, repr=False
    )

    def __post_init__(self) -> None:
        self.raw = np.asarray(self.raw, dtype=np.float32)
        self.weights = hop_weights(self.hops, self.alpha)
        if self.hops:
            stack = hop_stack(self.raw, self.indptr, self.indices, self.hops)
            self.features = model_input(stack, self.weights)
            # kept for new nodes' propagation; float32 halves it (hops are exact in float64)
            self.stack = [hop.astype(np.float32) for hop in stack]
        else:
            self.stack, self.features = [self.raw], self.raw

    @classmethod
    def build(
        cls,
        features: np.ndarray,
        edges: np.ndarray,
        walk: WalkConfig,
        hops: int = 0,
        alpha: float | None = None,
    ) -> NeighbourTable:
        indptr, indices = csr(len(features), edges)
        idx, weight = graph_neighbourhoods(indptr, indices, walk)
        return cls(features, indptr, indices, idx, weight, hops, alpha)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features (sparse COO when mostly zeros, as bag-of-words), neighbour idx and weights."""
        if self._tensors is None:
            x = torch.from_numpy(self.features)
            if np.count_nonzero(self.features) < 0.1 * self.features.size:
                x = x.to_sparse().coalesce()
            self._tensors = (x, torch.from_numpy(self.idx), torch.from_numpy(self.weight))
        return self._tensors


@dataclass
class TrainResult:
    model: PinSage
    table: NeighbourTable
    losses: list[float]  # mean loss per epoch
    seconds: float
    steps: int


def embed_nodes(model: PinSage, table: NeighbourTable, rows: np.ndarray) -> torch.Tensor:
    """Embeddings of known nodes (by row) through the model, in its current mode."""
    x, t_idx, t_w = table.tensors()
    r = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    own = x.index_select(0, r) if x.is_sparse else x[r]
    return model(own, t_idx[r], t_w[r], x, t_idx, t_w)


@torch.no_grad()
def embed_all(model: PinSage, table: NeighbourTable, chunk: int = 1024) -> np.ndarray:
    """Embeddings of every known node (eval mode), (n, dim) float32."""
    model.eval()
    n = len(table.features)
    parts = [embed_nodes(model, table, np.arange(s, min(n, s + chunk))) for s in range(0, n, chunk)]
    return torch.cat(parts).numpy().astype(np.float32)


def train(
    features: np.ndarray, edges: np.ndarray, cfg: TrainConfig, progress: Any = None
) -> TrainResult:
    """Train on the undirected `edges` (both directions are positives); `progress` is a tqdm."""
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    table = NeighbourTable.build(features, edges, cfg.walk, cfg.hops, cfg.alpha)
    hard_pool = (
        ppr_ranked(table.indptr, table.indices, cfg.hard_ranks) if cfg.hard_negatives else None
    )
    model = PinSage(ModelConfig(features.shape[1], cfg.hidden, cfg.dim, cfg.dropout, cfg.skip))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    pairs = np.concatenate([edges, edges[:, ::-1]])
    steps_per_epoch = -(-len(pairs) // cfg.batch_size)
    total = min(cfg.epochs * steps_per_epoch, cfg.max_steps or 1 << 62)
    if progress is not None:
        progress.reset(total=total)
    losses, step = [], 0
    for epoch in range(cfg.epochs):
        model.train()
        hard_k = min(epoch if cfg.curriculum else cfg.hard_negatives, cfg.hard_negatives)
        order, epoch_loss, batches = rng.permutation(len(pairs)), 0.0, 0
        for s in range(0, len(pairs), cfg.batch_size):
            if step >= total:
                break
            batch = pairs[order[s : s + cfg.batch_size]]
            loss = _step(model, opt, table, batch, hard_pool, hard_k, cfg, rng)
            epoch_loss, batches, step = epoch_loss + loss, batches + 1, step + 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}", hard=hard_k)
        if batches:
            losses.append(epoch_loss / batches)
        if step >= total:
            break
    model.eval()
    return TrainResult(model, table, losses, time.perf_counter() - started, step)


def _step(
    model: PinSage,
    opt: torch.optim.Optimizer,
    table: NeighbourTable,
    batch: np.ndarray,
    hard_pool: np.ndarray | None,
    hard_k: int,
    cfg: TrainConfig,
    rng: np.random.Generator,
) -> float:
    """One optimiser step on a batch of (query, positive) rows; returns the loss."""
    queries, positives = batch[:, 0], batch[:, 1]
    shared = sample_random(len(table.features), cfg.shared_negatives, rng)
    hard = (
        sample_hard(hard_pool, queries, hard_k, rng) if hard_pool is not None and hard_k else None
    )
    parts = [queries, positives, shared] + ([hard.ravel()] if hard is not None else [])
    nodes, inverse = np.unique(np.concatenate(parts), return_inverse=True)
    z = embed_nodes(model, table, nodes)
    cuts = np.cumsum([len(p) for p in parts])[:-1]
    at = [torch.from_numpy(a) for a in np.split(inverse, cuts)]
    hard_z = z[at[3]].view(len(queries), hard_k, -1) if hard is not None else None
    loss = max_margin_loss(z[at[0]], z[at[1]], z[at[2]], hard_z, cfg.margin)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.item())

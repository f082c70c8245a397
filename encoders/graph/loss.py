"""PinSage's max-margin ranking loss on unit-norm embeddings."""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812


def max_margin_loss(
    query: torch.Tensor,
    positive: torch.Tensor,
    shared: torch.Tensor,
    hard: torch.Tensor | None = None,
    margin: float = 0.1,
) -> torch.Tensor:
    """Mean of relu(q.n - q.p + margin) over every (query, negative) pair.

    query, positive (b, d); shared negatives (s, d) used by every query; hard negatives
    (b, h, d) per query, or None.
    """
    pos = (query * positive).sum(dim=1, keepdim=True)  # (b, 1)
    scores = [query @ shared.T]  # (b, s)
    if hard is not None and hard.shape[1] > 0:
        scores.append(torch.einsum("bd,bhd->bh", query, hard))
    neg = torch.cat(scores, dim=1)
    return F.relu(neg - pos + margin).mean()

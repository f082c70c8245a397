"""Training: contrastive (MultipleNegativesRankingLoss) on in-domain pairs, then the router.

The MoE sees one domain per batch with routing enforced to that domain's expert; the generalist
baseline sees the same number of batches of the same size drawn from all domains mixed.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from encoders.moe.data import Pair
from encoders.moe.layers import MoEFeedForward, masked_mean


@dataclass
class TrainConfig:
    steps: int = 48
    batch_size: int = 16
    lr: float = 1e-4
    max_seq_length: int = 48  # training only; serving keeps the base model's 256
    seed: int = 0


def domain_weights(pairs: dict[str, list[Pair]]) -> dict[str, float]:
    """Share of batches per domain, proportional to sqrt(#pairs) capped at 5,000 pairs, so that
    NFCorpus's 110k judged pairs don't take most of the batches."""
    raw = {d: math.sqrt(min(len(p), 5000)) for d, p in pairs.items() if p}
    total = sum(raw.values())
    return {d: w / total for d, w in raw.items()}


def _distinct_batch(
    pools: list[list[Pair]], weights: list[float], size: int, rng: random.Random
) -> list[Pair]:
    """Sample pairs (each from a pool drawn by weight) whose anchors and positives all differ:
    in-batch negatives repeating a positive (NFCorpus questions share abstracts) would be false."""
    seen: set[str] = set()
    batch: list[Pair] = []
    for _ in range(size * 20):
        pool = pools[0] if len(pools) == 1 else rng.choices(pools, weights=weights)[0]
        a, p = pool[rng.randrange(len(pool))]
        if a not in seen and p not in seen:
            seen.update((a, p))
            batch.append((a, p))
            if len(batch) == size:
                break
    return batch


def batches(
    pairs: dict[str, list[Pair]], cfg: TrainConfig, *, mixed: bool
) -> Iterator[tuple[str | None, list[Pair]]]:
    """`cfg.steps` batches: one domain each (weighted), or drawn from all domains (mixed)."""
    rng = random.Random(cfg.seed)
    weights = domain_weights(pairs)
    names = list(weights)
    shares = [weights[d] for d in names]
    for _ in range(cfg.steps):
        if mixed:  # the same domain shares, but mixed within each batch
            yield None, _distinct_batch([pairs[d] for d in names], shares, cfg.batch_size, rng)
        else:
            domain = rng.choices(names, weights=shares)[0]
            yield domain, _distinct_batch([pairs[domain]], [1.0], cfg.batch_size, rng)


def train_contrastive(
    model: Any,
    pairs: dict[str, list[Pair]],
    cfg: TrainConfig,
    *,
    domains: list[str] | None = None,
    desc: str = "train",
) -> list[float]:
    """Fine-tune `model` in place with MNRL; with `domains`, batches are routed to their
    domain's expert (a MoE model), else the model is trained as is (the generalist)."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(cfg.seed)
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    warmup = max(1, cfg.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min((s + 1) / warmup, max(0.0, (cfg.steps - s) / (cfg.steps - warmup + 1))),
    )
    serve_length = model.max_seq_length
    model.max_seq_length = cfg.max_seq_length
    model.train()
    losses: list[float] = []
    progress = tqdm(batches(pairs, cfg, mixed=domains is None), total=cfg.steps, desc=desc)
    try:
        for domain, batch in progress:
            features = [model.preprocess([pair[i] for pair in batch]) for i in (0, 1)]
            if domain is not None and domains is not None:
                ids = torch.full((len(batch),), domains.index(domain), dtype=torch.long)
                for f in features:
                    f["domain_ids"] = ids
            loss = loss_fn(features, None)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    finally:
        model.max_seq_length = serve_length
        model.eval()
    return losses


class _Captured(Exception):
    """Raised from a hook to stop the forward once the router's input has been taken."""


@torch.no_grad()
def router_features(model: Any, texts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Mean token state entering the first mixture layer (what the router sees), per text."""
    first = next(m for m in model[0].modules() if isinstance(m, MoEFeedForward) and m.router)
    taken: list[torch.Tensor] = []

    def hook(module: Any, args: tuple[torch.Tensor, ...]) -> None:
        taken.append(masked_mean(args[0], module.routing.attention_mask))
        raise _Captured

    handle = first.register_forward_pre_hook(hook)
    model.eval()
    try:
        for start in range(0, len(texts), batch_size):
            features = model.preprocess(texts[start : start + batch_size])
            with contextlib.suppress(_Captured):
                model[0](features)
    finally:
        handle.remove()
    return torch.cat(taken)


def train_router(
    model: Any, samples: list[tuple[str, str]], epochs: int = 300, lr: float = 1e-2
) -> float:
    """Fit the router (cross-entropy on domain labels) on frozen features; returns train acc."""
    module = model[0]
    texts = [t for t, _ in tqdm(samples, desc="router features", disable=True)]
    x = router_features(model, texts)
    y = torch.tensor([module.domain_id(d) for _, d in samples])
    router = module.router
    optimizer = torch.optim.Adam(router.parameters(), lr=lr, weight_decay=1e-4)
    for _ in tqdm(range(epochs), desc="router"):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(router.linear(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((router.linear(x).argmax(-1) == y).float().mean())

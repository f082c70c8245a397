"""Training: contrastive (MultipleNegativesRankingLoss) on in-domain pairs, then the router.

Every step draws one domain's batch, round-robin over the domains in a seeded order, so each
domain gets the same number of steps whatever its number of pairs. The MoE trains only its
experts (the shared BERT stays the base model's), each batch through its domain's expert; the
generalist baseline fine-tunes all of the plain model on the very same batches.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch
from tqdm import tqdm

from encoders.moe.config import TrainConfig
from encoders.moe.data import Pair
from encoders.moe.layers import Expert, MoEFeedForward, masked_mean

__all__ = ["TrainConfig", "train_contrastive", "train_router"]


def related_texts(pairs: list[Pair]) -> dict[str, set[str]]:
    """Anchor -> every positive it is paired with (NFCorpus questions judge ~40 abstracts)."""
    related: dict[str, set[str]] = defaultdict(set)
    for a, p in pairs:
        related[a].add(p)
    return related


def clean_batch(
    pool: list[Pair], related: dict[str, set[str]], size: int, rng: random.Random
) -> list[Pair]:
    """Pairs from one pool whose in-batch negatives are true negatives: no text repeats and no
    positive of one pair is a judged positive of another pair's anchor."""
    seen: set[str] = set()
    batch: list[Pair] = []
    for _ in range(size * 30):
        a, p = pool[rng.randrange(len(pool))]
        if a in seen or p in seen or any(p in related[x] for x, _ in batch):
            continue
        if related[a] & {q for _, q in batch}:
            continue
        seen.update((a, p))
        batch.append((a, p))
        if len(batch) == size:
            break
    return batch


def batches(pairs: dict[str, list[Pair]], cfg: TrainConfig) -> Iterator[tuple[str, list[Pair]]]:
    """`cfg.steps` batches of one domain each: the domains in turn, in a fresh seeded order per
    round, so every domain gets the same number of steps (balanced by steps, not by pairs)."""
    rng = random.Random(cfg.seed)
    names = [d for d, p in pairs.items() if p]
    related = {d: related_texts(pairs[d]) for d in names}
    order: list[str] = []
    for _ in range(cfg.steps):
        if not order:
            order = rng.sample(names, len(names))
        domain = order.pop()
        yield domain, clean_batch(pairs[domain], related[domain], cfg.batch_size, rng)


def _optimizer(model: Any, cfg: TrainConfig, moe: bool) -> torch.optim.Optimizer:
    """AdamW over what trains: everything (generalist), or the experts and their gates (MoE)."""
    gates, others = [], []
    for name, param in model.named_parameters():
        trains = not moe or cfg.backbone or ".experts." in name
        param.requires_grad_(trains)
        if trains:
            (gates if ".gate." in name else others).append(param)
    groups = [{"params": others, "lr": cfg.lr}]
    if gates:
        groups.append({"params": gates, "lr": cfg.gate_lr, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg.lr)


def train_contrastive(
    model: Any,
    pairs: dict[str, list[Pair]],
    cfg: TrainConfig,
    *,
    domains: list[str] | None = None,
    desc: str = "train",
) -> dict[str, Any]:
    """Fine-tune `model` in place with MNRL; with `domains`, batches are routed to their
    domain's expert (a MoE model), else the model is trained as is (the generalist).

    Returns the losses, steps and seconds per domain."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(cfg.seed)
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = _optimizer(model, cfg, moe=domains is not None)
    warmup = max(1, cfg.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min((s + 1) / warmup, max(0.0, (cfg.steps - s) / (cfg.steps - warmup + 1))),
    )
    serve_length = model.max_seq_length
    model.max_seq_length = cfg.max_seq_length
    model.train()
    losses: list[float] = []
    steps: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    progress = tqdm(batches(pairs, cfg), total=cfg.steps, desc=desc)
    try:
        for domain, batch in progress:
            started = time.perf_counter()
            features = [model.preprocess([pair[i] for pair in batch]) for i in (0, 1)]
            if domains is not None:
                ids = torch.full((len(batch),), domains.index(domain), dtype=torch.long)
                for f in features:
                    f["domain_ids"] = ids
            loss = loss_fn(features, None)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            steps[domain] += 1
            seconds[domain] += time.perf_counter() - started
            progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    finally:
        model.max_seq_length = serve_length
        model.eval()
        for param in model.parameters():
            param.requires_grad_(True)
    return {
        "losses": losses,
        "steps_per_domain": dict(steps),
        "seconds_per_step": {d: round(seconds[d] / steps[d], 3) for d in steps},
    }


def gate_movement(model: Any) -> list[dict[str, float]]:
    """Per mixture layer: how far its experts' gates moved from their start (w = 0, b = 1)."""
    out = []
    layers = [m for m in model[0].modules() if isinstance(m, MoEFeedForward)]
    for layer in layers:
        experts = [e for e in layer.experts if isinstance(e, Expert)]
        w = torch.stack([e.gate.weight.detach().abs().mean() for e in experts])
        b = torch.stack([(e.gate.bias.detach() - 1).abs().mean() for e in experts])
        out.append(
            {
                "mean_abs_weight": round(float(w.mean()), 6),
                "mean_abs_bias_minus_1": round(float(b.mean()), 6),
                "per_expert_abs_weight": [round(float(x), 6) for x in w],
                "per_expert_bias_minus_1": [round(float(x), 6) for x in b],
            }
        )
    return out


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
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
    try:
        for start in range(0, len(order), batch_size):
            features = model.preprocess([texts[i] for i in order[start : start + batch_size]])
            with contextlib.suppress(_Captured):
                model[0](features)
    finally:
        handle.remove()
    x = torch.empty(len(texts), taken[0].shape[1]) if taken else torch.empty(0)
    if taken:
        x[torch.tensor(order)] = torch.cat(taken)
    return x


def train_router(
    model: Any, samples: list[tuple[str, str]], epochs: int = 300, lr: float = 1e-2
) -> float:
    """Fit the router (cross-entropy on domain labels) on frozen features; returns train acc."""
    module = model[0]
    x = router_features(model, [t for t, _ in samples])
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


def confusion(truth: list[str], chosen: list[str], names: list[str]) -> list[list[int]]:
    """Rows: true domain, columns: chosen domain, in `names` order."""
    matrix = [[0] * len(names) for _ in names]
    for t, c in zip(truth, chosen, strict=True):
        matrix[names.index(t)][names.index(c)] += 1
    return matrix

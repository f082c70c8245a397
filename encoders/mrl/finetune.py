"""Full fine-tune of the base sentence-transformer with MatryoshkaLoss(MNRL).

A small torch loop around sentence-transformers' own loss modules (no `datasets`/`accelerate`
needed): batches of (anchor, positive) texts of one domain each, in-batch negatives, linear
warm-up then decay. With a time budget the decay follows whichever runs out first, steps or
time, so a run stopped on time has already annealed its learning rate.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from encoders.mrl.pairs import Pair, domain_batches

SIDECAR = "nestvec-mrl.json"  # beside the saved model: how it was trained
PCA_INIT = "pca"  # init_adapter value: rotate onto the training texts' principal axes
PCA_PAIRS = 1024  # pairs (two texts each) sampled to fit that rotation: >> 384 dims, ~30 s


@dataclass(frozen=True)
class FinetuneConfig:
    dims: tuple[int, ...] = (384, 256, 128, 64, 32)
    batch_size: int = 32
    epochs: int = 1
    lr: float = 2e-5
    warmup: float = 0.1  # share of the steps
    max_seq_length: int = 96
    probe_batches: int = 4  # fixed batches whose loss is measured before and after training
    # Word embeddings and the lowest transformer layers stay frozen: on 2 shared CPU cores the
    # backward pass through them would roughly double the step time for little gain.
    freeze_layers: int = 3
    seed: int = 0
    threads: int = 2
    # A trained linear adapter (adapter.npz) becomes a Dense layer after pooling, so training
    # starts from a model whose prefixes already work; "pca": the principal axes of the training
    # texts' own base embeddings (no other data); None: plain all-MiniLM-L6-v2.
    init_adapter: str | None = None
    budget_s: float | None = None  # stop training after this many seconds (None: all steps)
    weights: tuple[float, ...] | None = None  # Matryoshka loss weight per dim (None: all 1)


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    return model.preprocess(texts)


def _loss_on(model: Any, loss: Any, batches: list[list[Pair]]) -> float:
    """Mean Matryoshka loss over `batches` in eval mode (no dropout, no gradients)."""
    import torch

    model.eval()
    with torch.no_grad():
        values = [float(_batch_loss(model, loss, batch)) for batch in batches]
    return sum(values) / max(len(values), 1)


def _batch_loss(model: Any, loss: Any, batch: list[Pair]) -> Any:
    anchors = _features(model, [p.anchor for p in batch])
    positives = _features(model, [p.positive for p in batch])
    return loss([anchors, positives], None)


def finetune(
    pairs: list[Pair], out: Path, config: FinetuneConfig, *, progress: bool = True
) -> dict[str, Any]:
    """Train, save a sentence-transformers model into `out` with its sidecar; return the report."""
    import torch
    from sentence_transformers.sentence_transformer.losses import (
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from tqdm import tqdm

    from encoders.minilm import load_minilm

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    model = load_minilm()
    model.max_seq_length = config.max_seq_length
    if config.init_adapter == PCA_INIT:
        model = _with_pca(model, pairs, config.seed)
    elif config.init_adapter is not None:
        model = _with_adapter(model, Path(config.init_adapter))
    model.max_seq_length = config.max_seq_length
    _freeze(model, config.freeze_layers)
    weights = list(config.weights) if config.weights is not None else None
    loss = MatryoshkaLoss(
        model, MultipleNegativesRankingLoss(model), list(config.dims), matryoshka_weights=weights
    )
    batches = domain_batches(pairs, config.batch_size)
    probe = batches[: config.probe_batches]
    before = _loss_on(model, loss, probe)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr)
    total = config.epochs * len(batches)
    warm = max(1, int(config.warmup * total))
    rng = random.Random(config.seed)
    losses: list[float] = []
    started = time.perf_counter()
    step = 0
    bar = tqdm(total=total, desc="mrl finetune", unit="batch", disable=not progress)
    for _ in range(config.epochs):
        model.train()
        for batch in rng.sample(batches, len(batches)):
            elapsed = time.perf_counter() - started
            if config.budget_s is not None and elapsed >= config.budget_s:
                break
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(step, total, warm, elapsed, config.budget_s)
            value = _batch_loss(model, loss, batch)
            value.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(value.item())
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    train_seconds = time.perf_counter() - started
    after = _loss_on(model, loss, probe)

    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    report = {
        "mode": "finetune",
        "base": "minilm",
        "config": asdict(config),
        "pairs": len(pairs),
        "pair_kinds": sorted({p.kind for p in pairs}),
        "domains": dict(sorted(Counter(p.domain for p in pairs).items())),
        "steps": step,
        "planned_steps": total,
        "stopped_on_budget": step < total,
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "probe_loss_before": before,
        "probe_loss_after": after,
        "first_losses": losses[:10],
        "last_losses": losses[-10:],
        "versions": _versions(),
    }
    (out / SIDECAR).write_text(json.dumps(report, indent=2))
    return report


def _lr_factor(step: int, total: int, warm: int, elapsed: float, budget: float | None) -> float:
    """Linear warm-up over `warm` steps, then linear decay to 0 by the last step or the budget."""
    done = step / max(total, 1)
    if budget is not None:
        done = max(done, elapsed / budget)
    warm_share = warm / max(total, 1)
    if step < warm and done < warm_share:
        return (step + 1) / warm
    return min(1.0, max(0.0, (1.0 - done) / max(1.0 - warm_share, 1e-9)))


def _with_adapter(model: Any, path: Path) -> Any:
    """transformer → pooling → Dense(adapter, no bias, identity) → normalise."""
    from encoders.mrl.adapter import LinearAdapter

    return _with_dense(model, LinearAdapter.load(path).matrix)


def _with_pca(model: Any, pairs: list[Pair], seed: int) -> Any:
    """The Dense layer is the PCA rotation of base embeddings of (a sample of) the training texts.

    Orthogonal, so the full width starts exactly at the base model; only training texts are read,
    so a held-out domain stays unseen (the committed adapter was fitted on SciFact).
    """
    from encoders.mrl.adapter import pca_rotation

    sample = random.Random(seed).sample(pairs, min(len(pairs), PCA_PAIRS))
    texts = [text for pair in sample for text in (pair.anchor, pair.positive)]
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return _with_dense(model, pca_rotation(vectors))


def _with_dense(model: Any, matrix: Any) -> Any:
    """transformer → pooling → Dense(matrix, no bias, identity) → normalise."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    matrix = torch.from_numpy(matrix)
    dense = Dense(
        matrix.shape[1],
        matrix.shape[0],
        bias=False,
        activation_function=torch.nn.Identity(),
        init_weight=matrix,
    )
    modules = list(model)
    return SentenceTransformer(modules=[*modules[:2], dense, *modules[2:]], device="cpu")


def _freeze(model: Any, layers: int) -> None:
    """Freeze the embeddings and the `layers` lowest transformer layers (none if layers < 0)."""
    if layers < 0:
        return
    bert = model[0].auto_model
    for param in bert.embeddings.parameters():
        param.requires_grad = False
    for layer in bert.encoder.layer[:layers]:
        for param in layer.parameters():
            param.requires_grad = False


def _versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }

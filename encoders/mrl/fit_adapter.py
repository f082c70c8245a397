"""Training of the linear Matryoshka adapter (and the PCA baseline) on frozen embeddings."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.mrl.adapter import ADAPTER_FILE, LinearAdapter, nested_dims_for, pca_rotation
from encoders.mrl.pairs import DocPairs

ORTHO_PENALTY = 1.0  # weight of ||W W^T - I||^2 while training an orthogonal adapter
MNRL_SCALE = 20.0  # sentence-transformers' MultipleNegativesRankingLoss default
ENCODE_CHUNK = 256


@dataclass(frozen=True)
class AdapterConfig:
    dims: tuple[int, ...] | None = None
    batch_size: int = 256
    epochs: int = 20
    lr: float = 1e-3
    orthogonal: bool = True
    seed: int = 0
    threads: int = 2


def matryoshka_mnrl(anchors: Any, positives: Any, dims: tuple[int, ...]) -> Any:
    """MatryoshkaLoss(MultipleNegativesRankingLoss) on fixed embeddings: for every nested dim,
    cross-entropy of scaled cosines of renormalised prefixes against in-batch negatives."""
    import torch
    import torch.nn.functional as F

    labels = torch.arange(len(anchors))
    total = anchors.new_zeros(())
    for m in dims:
        a = F.normalize(anchors[:, :m], dim=1)
        p = F.normalize(positives[:, :m], dim=1)
        total = total + F.cross_entropy(MNRL_SCALE * a @ p.T, labels)
    return total


def frozen_embeddings(
    base: str, texts: list[str], cache_dir: Path, models_dir: Path | None = None
) -> np.ndarray:
    """Base-encoder vectors of `texts`, cached by content and by the base's fingerprint (a
    retrained base is another base) so adapter and pca runs share them."""
    from tqdm import tqdm

    from encoders.registry import EncoderPool, encoder_fingerprint

    fingerprint = encoder_fingerprint(base, models_dir)
    digest = hashlib.sha256("\n".join([base, fingerprint, *texts]).encode()).hexdigest()[:16]
    path = cache_dir / f"{base}-{digest}.npy"
    if path.exists():
        return np.load(path)
    encoder = EncoderPool().get(base, models_dir)
    chunks = [
        encoder.encode(texts[i : i + ENCODE_CHUNK])
        for i in tqdm(range(0, len(texts), ENCODE_CHUNK), desc=f"encode with {base}", unit="chunk")
    ]
    vectors = np.concatenate(chunks)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def fit_adapter(
    anchors: np.ndarray, positives: np.ndarray, dims: tuple[int, ...], config: AdapterConfig
) -> tuple[np.ndarray, list[float]]:
    """Learn the (d, d) map, starting from the PCA rotation; returns (matrix, loss per epoch).

    `orthogonal`: a penalty keeps the map near the orthogonal group while training and a polar
    projection (nearest orthogonal matrix, by SVD) makes it exactly orthogonal at the end. An
    exact parametrisation (matrix exponential) costs ~20x more per step on a CPU.
    """
    import torch
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    d = anchors.shape[1]
    weight = torch.nn.Parameter(
        torch.from_numpy(pca_rotation(np.concatenate([anchors, positives])))
    )
    eye = torch.eye(d)
    a_all, p_all = torch.from_numpy(anchors), torch.from_numpy(positives)
    optimizer = torch.optim.Adam([weight], lr=config.lr)
    rng = random.Random(config.seed)
    epoch_losses: list[float] = []
    for _ in tqdm(range(config.epochs), desc="mrl adapter", unit="epoch"):
        order = list(range(len(anchors)))
        rng.shuffle(order)
        values = []
        for i in range(0, len(order) - 1, config.batch_size):
            rows = torch.tensor(order[i : i + config.batch_size])
            loss = matryoshka_mnrl(a_all[rows] @ weight.T, p_all[rows] @ weight.T, dims)
            values.append(loss.item())
            if config.orthogonal:
                loss = loss + ORTHO_PENALTY * ((weight @ weight.T - eye) ** 2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epoch_losses.append(sum(values) / len(values))
    matrix = weight.detach().numpy().astype(np.float64)
    if config.orthogonal:
        u, _, vt = np.linalg.svd(matrix)
        matrix = u @ vt
    return matrix.astype(np.float32), epoch_losses


def probe_loss(matrix: np.ndarray, anchors: np.ndarray, positives: np.ndarray, dims: Any) -> float:
    """Matryoshka loss of a fixed map on the first batch-size slice (for before/after)."""
    import torch

    with torch.no_grad():
        a = torch.from_numpy(anchors @ matrix.T)
        p = torch.from_numpy(positives @ matrix.T)
        return float(matryoshka_mnrl(a, p, tuple(dims)))


def train_linear(
    kind: str,
    base: str,
    pairs: DocPairs,
    out: Path,
    config: AdapterConfig,
    models_dir: Path | None = None,
) -> dict[str, Any]:
    """Fit `kind` ("adapter" or "pca") for encoder `base` (a trained one loaded from
    `models_dir`); write out/adapter.npz + .json."""
    started = time.perf_counter()
    cache = out.parent / ".cache"
    docs = frozen_embeddings(base, pairs.docs, cache, models_dir)
    if pairs.anchor_rows is not None:
        anchors = docs[pairs.anchor_rows]
    else:
        anchors = frozen_embeddings(base, pairs.anchors, cache, models_dir)
    positives = docs[pairs.doc_rows]
    dims = nested_dims_for(anchors.shape[1], config.dims)
    probe = slice(0, min(config.batch_size, len(anchors)))
    identity = np.eye(anchors.shape[1], dtype=np.float32)
    if kind == "pca":
        matrix, losses = pca_rotation(docs), []
    else:
        matrix, losses = fit_adapter(anchors, positives, dims, config)
    meta = {
        "config": asdict(config) if kind == "adapter" else None,
        "orthogonal": bool(np.allclose(matrix @ matrix.T, identity, atol=1e-3)),
        "pairs": len(anchors),
        "pair_kinds": sorted(set(pairs.kinds)),
        "probe_loss_base": probe_loss(identity, anchors[probe], positives[probe], dims),
        "probe_loss_after": probe_loss(matrix, anchors[probe], positives[probe], dims),
        "epoch_losses": losses,
        "seconds": round(time.perf_counter() - started, 1),
    }
    adapter = LinearAdapter(matrix, kind, base, dims, meta)
    adapter.save(out / ADAPTER_FILE)
    return adapter.describe()

"""The linear Matryoshka adapter: shapes, save/load round trip, the PCA baseline, the loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import DATA

from encoders.errors import InvalidInput
from encoders.mrl.adapter import LinearAdapter, nested_dims_for, pca_rotation
from encoders.mrl.adapter_encoder import PACKAGED
from encoders.mrl.fit_adapter import matryoshka_mnrl

MNIST = DATA / "ann_mnist10k" / "base.bvecs"


def real_vectors(n: int = 800) -> np.ndarray:
    raw = np.fromfile(MNIST, dtype=np.uint8)
    return raw.reshape(-1, 788)[:n, 4:].astype(np.float32) / 255.0


def test_pca_rotation_is_orthogonal_and_sorts_variance() -> None:
    x = real_vectors()
    r = pca_rotation(x)
    assert r.shape == (784, 784) and r.dtype == np.float32
    np.testing.assert_allclose(r @ r.T, np.eye(784), atol=1e-4)
    variance = (x @ r.T).var(axis=0)
    assert np.all(np.diff(variance[:50]) <= 1e-6)  # largest first
    assert variance[:32].sum() > 0.6 * variance.sum()


def test_adapter_shapes_and_round_trip(tmp_path: Path) -> None:
    x = real_vectors()
    adapter = LinearAdapter(pca_rotation(x), "pca", "mnist", (784, 392, 64), {"note": "test"})
    out = adapter.apply(x[:5])
    assert out.shape == (5, 784) and out.dtype == np.float32
    np.testing.assert_allclose(
        np.linalg.norm(out, axis=1), np.linalg.norm(x[:5], axis=1), rtol=1e-4
    )
    adapter.save(tmp_path / "a.npz")
    sidecar = json.loads((tmp_path / "a.json").read_text())
    assert sidecar == {
        "kind": "pca",
        "base": "mnist",
        "dim": 784,
        "nested_dims": [784, 392, 64],
        "note": "test",
    }
    loaded = LinearAdapter.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded.matrix, adapter.matrix)
    assert loaded.describe() == adapter.describe()
    with pytest.raises(InvalidInput):
        adapter.apply(x[:5, :100])
    with pytest.raises(InvalidInput):
        LinearAdapter(np.zeros((4, 3), np.float32), "adapter", "b", (4,))
    with pytest.raises(InvalidInput):
        LinearAdapter(np.eye(4, dtype=np.float32), "adapter", "b", (2,))


def test_packaged_minilm_adapter() -> None:
    adapter = LinearAdapter.load(PACKAGED / "minilm.npz")
    assert adapter.matrix.shape == (384, 384) and adapter.base == "minilm"
    assert adapter.nested_dims == (384, 256, 128, 64, 32) == nested_dims_for(384, None)
    np.testing.assert_allclose(adapter.matrix @ adapter.matrix.T, np.eye(384), atol=1e-3)
    assert adapter.meta["pairs"] > 1000 and "test" not in json.dumps(adapter.meta["pair_kinds"])
    assert (PACKAGED / "minilm.npz").stat().st_size < 2_000_000


def test_matryoshka_loss_prefers_true_pairs() -> None:
    x = torch.from_numpy(real_vectors(64))
    noisy = x + 0.05 * torch.from_numpy(np.random.default_rng(0).normal(size=x.shape)).float()
    matched = matryoshka_mnrl(x, noisy, (784, 128, 32))
    shuffled = matryoshka_mnrl(x, noisy.roll(1, dims=0), (784, 128, 32))
    assert float(matched) < float(shuffled)

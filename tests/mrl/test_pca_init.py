"""`--init-adapter pca`: the fine-tune starts from the training texts' own principal axes.

Real MiniLM and real AG News pairs; the rotation must keep every full-width cosine (orthogonal)
and move variance into the leading dims, and the CLI must record it in the sidecar.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import DATA

from encoders.mrl.pairs import domain_pairs

NESTVEC = str(Path(sys.executable).parent / "nestvec")
pytestmark = pytest.mark.skipif(
    not all((DATA / d).exists() for d in ("nfcorpus", "ag_news_test")),
    reason="../shared/data text domains not present",
)


def _leading_share(vectors: np.ndarray, dims: int = 64) -> float:
    """Share of the total variance held by the first `dims` coordinates."""
    variance = ((vectors - vectors.mean(axis=0)) ** 2).sum(axis=0)
    return float(variance[:dims].sum() / variance.sum())


def test_pca_start_is_a_rotation_that_front_loads_variance() -> None:
    from encoders.minilm import load_minilm
    from encoders.mrl.finetune import _with_pca

    pairs = domain_pairs(DATA, ("agnews",), per_domain=250)
    texts = [p.anchor for p in pairs[:200]]
    base = load_minilm()
    base.max_seq_length = 64
    before = base.encode(texts, normalize_embeddings=True)
    after = _with_pca(base, pairs, seed=0).encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(after @ after.T, before @ before.T, atol=1e-4)
    assert _leading_share(after) > _leading_share(before) + 0.2


def test_tiny_pca_run_records_its_start(tmp_path: Path) -> None:
    cmd = [NESTVEC, "train", "mrl", "--mode", "finetune", "--tiny", "--hold-out", "scifact"]
    cmd += ["--init-adapter", "pca", "--out", str(tmp_path / "m")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["config"]["init_adapter"] == "pca"
    assert report["probe_loss_after"] < report["probe_loss_before"]
    sidecar = json.loads((tmp_path / "m" / "nestvec-mrl.json").read_text())
    assert sidecar["config"]["init_adapter"] == "pca" and set(sidecar["domains"]) == {
        "nfcorpus",
        "agnews",
    }

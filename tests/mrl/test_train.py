"""`nestvec train mrl --tiny` as a user runs it: the loss goes down and the service serves it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DATA

from encoders import EncoderPool

SCIFACT = DATA / "scifact"
NESTVEC = str(Path(sys.executable).parent / "nestvec")
TEXTS = ["Aspirin lowers the risk of heart attack.", "Vitamin D deficiency weakens bones."]
pytestmark = pytest.mark.skipif(not SCIFACT.exists(), reason="../shared/data/scifact not present")


def train(mode: str, data_dir: Path) -> dict[str, Any]:
    cmd = [NESTVEC, "train", "mrl", "--mode", mode, "--tiny", "--data-dir", str(data_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def embed(client: TestClient, encoder: str, dim: int | None = None) -> np.ndarray:
    r = client.post("/v1/embed", json={"encoder": encoder, "inputs": TEXTS, "dim": dim})
    assert r.status_code == 200, r.text
    return np.asarray(r.json()["embeddings"])


def test_tiny_finetune_lowers_loss_and_is_served(
    tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    report = train("finetune", tmp_path)
    assert report["out"] == str(tmp_path / "models" / "minilm-mrl")
    assert report["pairs"] == 32 and report["steps"] > 0
    assert report["probe_loss_after"] < report["probe_loss_before"]
    assert (tmp_path / "models" / "minilm-mrl" / "nestvec-mrl.json").exists()

    client = make_client(data_dir=tmp_path)
    listed = {e["name"]: e for e in client.get("/v1/encoders").json()["encoders"]}
    assert listed["minilm-mrl"]["artifact"]["available"] is True
    trained = embed(client, "minilm-mrl")
    base = embed(client, "minilm")
    assert not np.allclose(trained, base, atol=1e-4)  # the fine-tuned weights, not the fallback
    short = embed(client, "minilm-mrl", 64)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


def test_tiny_adapter_lowers_loss_and_is_served(
    tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    report = train("adapter", tmp_path)
    path = tmp_path / "models" / "mrl-adapter-minilm" / "adapter.npz"
    assert report["out"] == str(path.parent) and path.exists()
    assert report["kind"] == "adapter" and report["orthogonal"] is True
    losses = report["epoch_losses"]
    assert len(losses) == 10 and losses[-1] < losses[0]

    client = make_client(data_dir=tmp_path)
    listed = {e["name"]: e for e in client.get("/v1/encoders").json()["encoders"]}
    artifact = listed["minilm-mrl-adapter"]["artifact"]
    assert artifact["path"] == "mrl-adapter-minilm/adapter.npz" and artifact["packaged"] is False
    served = embed(client, "minilm-mrl-adapter")
    base = embed(client, "minilm")
    matrix = np.load(path)["matrix"]
    np.testing.assert_allclose(served, base @ matrix.T, atol=1e-4)  # orthogonal: norms kept


def test_a_model_trained_while_the_fallback_serves_says_a_restart_loads_it(
    tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    """`available` flipped to true while the base model went on serving: nothing said so."""
    client = make_client(data_dir=tmp_path)
    before = embed(client, "minilm-mrl")  # loads the fallback: no fine-tune yet
    train("finetune", tmp_path)
    listed = {e["name"]: e for e in client.get("/v1/encoders").json()["encoders"]}
    artifact = listed["minilm-mrl"]["artifact"]
    assert artifact["available"] is True and artifact["serving"] == "minilm"
    assert "restart" in artifact["note"]
    np.testing.assert_allclose(embed(client, "minilm-mrl"), before, atol=1e-6)
    fresh = EncoderPool().describe("minilm-mrl", tmp_path / "models")  # a restarted server's
    assert fresh["artifact"]["available"] is True and "serving" not in fresh["artifact"]

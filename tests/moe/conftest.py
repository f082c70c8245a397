"""One tiny MoE artifact per session, trained by the real CLI (`nestvec train moe --tiny`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from encoders import EncoderPool


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service data dir whose models/ holds a `--tiny` moe-minilm and minilm-generalist."""
    data_dir = tmp_path_factory.mktemp("moe") / "data"
    cli = Path(sys.executable).parent / "nestvec"
    cmd = [str(cli), "train", "moe", "--tiny", "--generalist", "--threads", "1"]
    cmd += ["--data-dir", str(data_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((data_dir / "models" / "moe-minilm" / "train_report.json").read_text())
    assert report["config"]["steps"] == 6 and report["domains"][0] == "scifact"
    return data_dir


@pytest.fixture(scope="session")
def tiny_moe(tiny_data_dir: Path) -> Any:
    """The tiny artifact loaded as a sentence-transformers user would."""
    from encoders.moe.model import load_moe

    return load_moe(tiny_data_dir / "models" / "moe-minilm")


@pytest.fixture(scope="session")
def base_model(encoder_pool: EncoderPool) -> Any:
    """The session's base all-MiniLM-L6-v2 (read-only: MoE builders deep-copy it)."""
    return encoder_pool.get("minilm").model  # type: ignore[attr-defined]

"""One tiny MoE artifact per session, trained by the real CLI (`nestvec train moe --tiny`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from encoders import EncoderPool
from encoders.minilm import load_minilm


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
def base_model() -> Any:
    """A base all-MiniLM-L6-v2 for the session (read-only: MoE builders deep-copy it)."""
    return load_minilm()  # float32, as training uses it (the service's may be bfloat16)


@pytest.fixture(scope="session")
def float32_pool() -> EncoderPool:
    """For checks of which expert ran, to 1e-5: the model runs float32 there, since bfloat16's own
    spread between batchings (~1e-3; the default on CPUs with AMX) could hide a wrong expert of
    the barely trained tiny model. tests/moe/test_batched_domains.py covers the default."""
    return EncoderPool({"moe-minilm": {"precision": "float32"}})

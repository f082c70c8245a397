"""One tiny graph-cora model per session, trained by the real CLI on the real Cora data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import DATA

CORA = DATA / "cora_planetoid"


@pytest.fixture(scope="session")
def graph_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir holding graph-cora, from `nestvec train graph --tiny`."""
    models = tmp_path_factory.mktemp("graph") / "models"
    cmd = [
        str(Path(sys.executable).parent / "nestvec"),
        "train",
        "graph",
        "--tiny",
        "--models-dir",
        str(models),
    ]
    # the default --graph, from a folder outside the checkout: it was `../shared/data/...`
    # relative to the shell's folder, and the command the 409 suggests failed elsewhere
    done = subprocess.run(cmd, cwd=models.parent, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return models
